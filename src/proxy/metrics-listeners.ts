/**
 * The Node listeners that sit beside HAProxy in the proxy's process and that its configuration
 * points at: the access-log receiver, `/metrics`, and the ACME HTTP-01 responder. Started before
 * HAProxy (the rendered configuration names their addresses), closed after it.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type pino from 'pino';
import { startChallengeResponder, startTlsAlpnResponder } from '../certs/mod.ts';
import { errorMessage } from '../errors.ts';
import type { Store } from '../store/types.ts';
import type { MachineOfServer } from './autostop-stats.ts';
import { type ListenAddress, parseListen } from './haproxy-config.ts';
import type { HttpStats } from './http-stats.ts';
import type { ListenerPorts } from './listener-ports.ts';
import { ProxyMetrics } from './metrics.ts';
import { startMetricsServer } from './metrics-server.ts';
import type { ReplayerTarget } from './replay-config.ts';
import { type ReplayReach, startReplayer } from './replay-server.ts';

const replayLua = new URL('./replay.lua', import.meta.url);

export interface NodeListeners {
  metrics: ProxyMetrics;
  acmeResponder: ListenAddress;
  /** The ACME TLS-ALPN-01 responder, when asked for. */
  acmeTlsAlpn?: ListenAddress;
  metricsSocket: string;
  replayer: ReplayerTarget;
  /** Where `/metrics` answers, unless turned off or the address was taken. */
  metricsAddress?: string;
  close(): Promise<void>;
}

export async function startNodeListeners(options: {
  store: Store;
  region: string;
  /** `host:port`, or `off`. */
  metricsListen?: string;
  metricsSocket: string;
  appsDomain: string;
  /** Where HAProxy loads replay.lua from. */
  replayLuaPath: string;
  /** HAProxy's internal frontend for requests whose body the replayer holds. */
  bufferedSocket: string;
  /** Answer ACME TLS-ALPN-01 challenges (the shared TLS port gets a TCP front, tls-alpn-config.ts). */
  acmeTlsAlpn?: boolean;
  /** The machine behind a server slot, for logs, replays and metrics. */
  machineOf: MachineOfServer;
  /** Per-app request and latency figures from HAProxy's counters. */
  httpStats: HttpStats;
  /** Ports to take again when free (those the running HAProxy's configuration names). */
  ports?: ListenerPorts;
  /** In a cluster: how the replayer reaches machines on other hosts. */
  reach?: ReplayReach;
  log: pino.Logger;
}): Promise<NodeListeners> {
  const { log } = options;
  const metrics = new ProxyMetrics();
  const ports = options.ports ?? {};
  const acme = await startChallengeResponder(options.store, log.child({ component: 'acme' }), ports.acme);
  const tlsAlpn = options.acmeTlsAlpn
    ? await startTlsAlpnResponder(options.store, log.child({ component: 'acme' }), ports.acmeTlsAlpn)
    : undefined;
  const replayer = await startReplayer({
    store: options.store,
    region: options.region,
    appsDomain: options.appsDomain,
    metrics,
    machineOf: options.machineOf,
    bufferedSocket: options.bufferedSocket,
    port: ports.replayer,
    reach: options.reach,
    log,
  });
  await mkdir(dirname(options.replayLuaPath), { recursive: true });
  await copyFile(replayLua, options.replayLuaPath);
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  const listen =
    options.metricsListen && options.metricsListen !== 'off' ? parseListen(options.metricsListen) : undefined;
  if (listen) {
    try {
      metricsServer = await startMetricsServer({
        ...listen,
        haproxySocket: options.metricsSocket,
        metrics,
        httpStats: options.httpStats,
        machineOf: options.machineOf,
        log,
      });
      log.info({ metrics: `http://${metricsServer.address}/metrics` }, 'metrics served');
    } catch (error) {
      // Metrics must never keep the proxy from serving apps.
      log.warn(
        { listen: options.metricsListen, err: errorMessage(error) },
        'metrics not served: the address is not available; pass --metrics-listen HOST:PORT (or off)',
      );
    }
  }
  return {
    metrics,
    acmeResponder: { host: acme.host, port: acme.port },
    ...(tlsAlpn ? { acmeTlsAlpn: { host: tlsAlpn.host, port: tlsAlpn.port } } : {}),
    metricsSocket: options.metricsSocket,
    replayer: {
      address: { host: replayer.host, port: replayer.port },
      lua: options.replayLuaPath,
      bufferedSocket: options.bufferedSocket,
    },
    metricsAddress: metricsServer?.address,
    async close() {
      await Promise.all([acme.close(), tlsAlpn?.close(), replayer.close(), metricsServer?.close()]);
    },
  };
}
