/**
 * The host agent: publishes its host, reconciles the machines assigned to it, ships their logs.
 * It talks to the rest of nearby only through the store.
 */
import { join } from 'node:path';
import { runMeter } from '../billing/meter-loop.ts';
import { startMachineResolver, type Upstream } from '../dns/mod.ts';
import type { HostRecord } from '../model/mod.ts';
import { gatewayAddresses } from '../net/mod.ts';
import { startVolumes } from '../volumes/mod.ts';
import { serveConsoles, serveRemoteConsoles } from './console-server.ts';
import { runHeartbeat } from './heartbeat.ts';
import { serveMachineRequests } from './machine-requests.ts';
import { hostMembers } from './network-members.ts';
import { Reconciler, type ReconcilerOptions } from './reconciler.ts';

export interface AgentOptions extends ReconcilerOptions {
  signal: AbortSignal;
  /** What `hosts/<name>` tells the others besides name, region and runtime. */
  hostRecord?: Pick<HostRecord, 'address' | 'max_machines' | 'subnet4' | 'subnet6'> &
    Partial<
      Pick<HostRecord, 'memory_mb' | 'cpus' | 'wireguard_public_key' | 'mesh_endpoint' | 'mesh_address'>
    >;
  /** `host:port` of the console listener for APIs on other hosts (a cluster host); none: unix socket only. */
  consoleListen?: string;
  /** The machines' resolver (src/dns/): where names outside `.internal` go (default the host's
   *  /etc/resolv.conf), or `off` (machines then use the host's resolvers directly). */
  dns?: { upstreams?: Upstream[] } | 'off';
  /** How often this host's usage is metered (`--meter-interval`); default `METER_INTERVAL_MS`. */
  meterIntervalMs?: number;
}

export interface RunningAgent {
  reconciler: Reconciler;
  /** Resolves when the agent has stopped following the store (after `signal` aborts). */
  done: Promise<void>;
}

/** `options.log` is named by the caller (`part: 'agent'`); the agent names its pieces `component`. */
export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { log } = options;
  await options.network.ensure();
  // The kernel kept the isolation while nearby was down; this brings it to what the store says
  // before any machine is attached or adopted.
  await options.network.isolate(await hostMembers(options.store, options.host));
  const resolver = options.dns === 'off' ? undefined : await startResolver(options, options.dns?.upstreams);
  const consoleSocket = join(options.dataDir, 'agent-console.sock');
  await serveConsoles(consoleSocket, options.runtime, log, options.signal);
  const consoleAddress = options.consoleListen
    ? await consoleListener(options, options.consoleListen)
    : undefined;
  await runHeartbeat(
    options.store,
    {
      name: options.host,
      region: options.region,
      runtime: options.runtime.name,
      ...(options.runtime.kinds ? { runtimes: options.runtime.kinds } : {}),
      console_socket: consoleSocket,
      ...(consoleAddress ? { console_address: consoleAddress } : {}),
      ...options.hostRecord,
    },
    options.signal,
    log,
  );
  const volumes = startVolumes({ ...options, log: log.child({ component: 'volumes' }) });
  const reconciler = new Reconciler({
    ...options,
    log,
    volumes: volumes.manager,
    ...(resolver ? { resolver } : {}),
  });
  const stopped = (what: string) => (error: unknown) => {
    if (!options.signal.aborted) log.error({ err: error }, `agent stopped ${what}`);
  };
  const done = Promise.all([
    reconciler.run(options.signal).catch(stopped('following the store')),
    serveMachineRequests(options.store, options.host, options.runtime, log, options.signal).catch(
      stopped('serving machine requests'),
    ),
    volumes.done,
    // Usage of this host's machines and volumes (docs/billing.md).
    runMeter({
      ...options,
      ...(options.meterIntervalMs ? { intervalMs: options.meterIntervalMs } : {}),
      onError: (error) => log.warn({ err: error }, 'metering failed; retried next interval'),
    }),
  ]).then(() => {});
  return { reconciler, done };
}

/** Starts the machines' resolver on the bridge's gateway addresses; returns them. */
async function startResolver(options: AgentOptions, upstreams?: Upstream[]) {
  const { ipv4Cidr, ipv6Cidr } = options.network.options;
  const gateway = gatewayAddresses(ipv4Cidr, ipv6Cidr);
  await startMachineResolver({
    store: options.store,
    host: options.host,
    region: options.region,
    listen: [gateway.ipv6, gateway.ipv4],
    ...(upstreams ? { upstreams } : {}),
    signal: options.signal,
    log: options.log,
  });
  return gateway;
}

/** Listens for consoles asked by APIs on other hosts; returns the `address:port` they reach. */
async function consoleListener(options: AgentOptions, listen: string): Promise<string> {
  const port = await serveRemoteConsoles(
    { listen, store: options.store, host: options.host },
    options.runtime,
    options.log,
    options.signal,
  );
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const reachable =
    host === '' || host === '0.0.0.0' || host === '::' ? (options.hostRecord?.address ?? '127.0.0.1') : host;
  return reachable.includes(':') ? `[${reachable}]:${port}` : `${reachable}:${port}`;
}
