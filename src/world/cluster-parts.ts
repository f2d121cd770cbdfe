/**
 * The cluster's parts in the world: `nearby api` (with its registry) in the first region's first
 * host, a `nearby node` on every host with a host token and the backhaul, and the GeoDNS.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { meshAddress } from '../agent/mesh-start.ts';
import { makeBackhaulCredential } from '../proxy/backhaul-credential.ts';
import { worldDnsTables } from './dns-tables.ts';
import { worldError } from './errors.ts';
import { mountHostDisk } from './host-disks.ts';
import type { RttMatrix } from './matrix.ts';
import { type PlannedHost, ports, type WorldPlan } from './plan.ts';
import { startDetached } from './processes.ts';
import { saveState, type WorldState } from './state.ts';
import { waitFor } from './wait-ready.ts';

export const nearbyBin = join(import.meta.dirname, '..', '..', 'bin', 'nearby');
/** bin/nearby execs node on src/cli/main.ts. */
const nearbyExecs = ['main.ts'];

export async function startApi(state: WorldState, natsUrls: string[]) {
  const { plan, dir } = state;
  const host = plan.apiHost;
  const apiUrl = `http://${host.address}:${ports.api}`;
  const registry = `${host.address}:${ports.registry}`;
  const apiDir = join(dir, 'api');
  const logFile = join(dir, 'logs', 'api.log');
  state.processes.push(
    startDetached(
      'api',
      nearbyBin,
      [
        ...['api', '--nats', natsUrls.join(','), '--data-dir', apiDir, '--host-name', 'api'],
        ...['--api-listen', `${host.address}:${ports.api}`, '--api-url', apiUrl],
        ...['--registry-listen', registry, '--registry-address', registry, '--region', host.region],
        ...['--apps-domain', plan.options.appsDomain, '--log-format', 'json'],
      ],
      { netns: host.netns, logFile, cwd: dir, execs: nearbyExecs },
    ),
  );
  state.hostDataDirs.push({ dataDir: apiDir, netns: host.netns });
  saveState(state);
  await waitFor(
    'the API',
    async () => (await fetch(`${apiUrl}/health`)).ok,
    logFile,
    state.processes.slice(-1),
  );
  state.apiUrl = apiUrl;
  state.registry = registry;
  state.token = readFileSync(join(apiDir, 'admin-token'), 'utf8').trim();
  saveState(state);
}

export async function startHosts(state: WorldState, natsUrls: string[], matrix: RttMatrix) {
  const { plan, dir } = state;
  // Hosts get a host token, as an operator gives them (`nearby tokens create host`), not the admin's.
  // Retried a while: across far NATS nodes the admin token's digest may not be readable at once.
  let made: Response | undefined;
  for (const deadline = Date.now() + 60_000; ; await delay(500)) {
    made = await fetch(`${state.apiUrl}/v1/tokens/host`, {
      method: 'POST',
      headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `world ${plan.options.name} hosts` }),
    });
    if (made.status === 201 || Date.now() > deadline) break;
    await made.body?.cancel();
  }
  if (made.status !== 201)
    throw worldError(
      'WORLD_UP_FAILED',
      `the API refused a host token (${made.status}): ${await made.text()}`,
    );
  const tokenFile = join(dir, 'host-token');
  writeFileSync(tokenFile, `${((await made.json()) as { token: string }).token}\n`, { mode: 0o600 });
  // One certificate every proxy of the world shares, which is also the backhaul's CA.
  const credential = await makeBackhaulCredential(
    join(dir, 'backhaul'),
    `nearby world ${plan.options.name} backhaul`,
  );
  const started = plan.hosts.map(async (host) => {
    const dataDir = join(dir, 'hosts', host.hostName);
    // Every node, nearest first: the store's client tries them in this order (no shuffling), so a
    // host talks to its own region's node, or the nearest one, and fails over to the next.
    const urls = [...natsUrls].sort(
      (a, b) =>
        matrix.rtt(host.region, natsRegion(plan, a)).ms - matrix.rtt(host.region, natsRegion(plan, b)).ms,
    );
    if (plan.options.hostDiskMb !== undefined) await mountHostDisk(state, dataDir, plan.options.hostDiskMb);
    const args = partArgs(state, host, urls, dataDir, tokenFile, credential);
    const part = (name: string, partArgs: string[]) => {
      const logFile = join(dir, 'logs', `${name}-${host.hostName}.log`);
      const started = startDetached(`${name} ${host.hostName}`, nearbyBin, [name, ...partArgs], {
        netns: host.netns,
        logFile,
        cwd: dir,
        execs: nearbyExecs,
      });
      state.processes.push(started);
      saveState(state);
      return { started, logFile };
    };
    state.hostDataDirs.push({ dataDir, netns: host.netns });
    // A host far from every NATS node starts slowly (docs/world.md: ~80 s at 100 ms).
    const slow = 240_000;
    const edgeAnswers = async () =>
      (await fetch(`http://${host.address}/`).catch(() => undefined)) !== undefined;
    if (!plan.options.splitParts) {
      const node = part('node', [...args.common, ...args.agent, ...args.proxy]);
      return waitFor(`nearby node ${host.hostName}`, edgeAnswers, node.logFile, [node.started], slow);
    }
    // The agent first: the proxy's backhaul listens on the mesh address the agent sets up.
    const agent = part('agent', [...args.common, ...args.agent]);
    await waitFor(
      `nearby agent ${host.hostName}`,
      () => accepts(host.address, 4281),
      agent.logFile,
      [agent.started],
      slow,
    );
    const proxy = part('proxy', [...args.common, ...args.proxy]);
    return waitFor(`nearby proxy ${host.hostName}`, edgeAnswers, proxy.logFile, [proxy.started], slow);
  });
  await Promise.all(started);
  // The proxy answers before its agent registers: `up` is done once the API places machines on
  // every host (a `machine run --region` right after must find its region).
  const names = plan.hosts.map((host) => host.hostName);
  await waitFor(
    'every host registered and up in the API',
    async () => {
      const response = await fetch(`${state.apiUrl}/v1/platform/hosts`, {
        headers: { authorization: `Bearer ${state.token}` },
      });
      if (!response.ok) return false;
      const { hosts } = (await response.json()) as { hosts: { name: string; status: string }[] };
      return names.every((name) => hosts.some((host) => host.name === name && host.status === 'up'));
    },
    join(dir, 'logs', 'api.log'),
    state.processes,
    240_000,
  );
}

/** Whether something accepts TCP connections at `address:port` (the agent's console). */
function accepts(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 2000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function natsRegion(plan: WorldPlan, url: string): string {
  return (plan.natsHosts.find((host) => url.includes(`//${host.address}:`)) as PlannedHost).region;
}

/** WireGuard's usual port: each world host has its own address, so all use the same. */
const MESH_PORT = 51820;

/** The flags of a host's agent and proxy, and those both take (`nearby node` takes all three). */
function partArgs(
  state: WorldState,
  host: PlannedHost,
  natsUrls: string[],
  dataDir: string,
  tokenFile: string,
  credential: { certFile: string; caFile: string },
): { common: string[]; agent: string[]; proxy: string[] } {
  return {
    common: [
      ...['--nats', natsUrls.join(','), '--region', host.region, '--host-name', host.hostName],
      ...['--data-dir', dataDir, '--api-url', state.apiUrl as string],
      ...['--token-file', tokenFile, '--log-format', 'json'],
    ],
    agent: [
      ...['--address', host.address, '--bridge', host.machineBridge],
      // The private network between the world's hosts (docs/network.md, "Between hosts").
      ...['--mesh-listen', `${host.address}:${MESH_PORT}`],
    ],
    proxy: [
      ...['--proxy-listen', '0.0.0.0:80', '--proxy-tls-listen', '0.0.0.0:443'],
      ...['--apps-domain', state.plan.options.appsDomain, '--metrics-listen', '127.0.0.1:9480'],
      // Proxy to proxy over the mesh: everything between regions is encrypted in flight, and the
      // backhaul's own TLS stays (a host's mesh peers are hosts, not necessarily its proxies).
      ...['--backhaul-listen', `[${meshAddress(`${host.address}:${MESH_PORT}`)}]:4443`],
      ...['--backhaul-cert', credential.certFile, '--backhaul-ca', credential.caFile],
    ],
  };
}

/**
 * The world's GeoDNS is `nearby dns serve`, given the tables an operator would write: each city's
 * /24 to its city, each region to its hosts' edges (dns-tables.ts).
 */
export async function startDns(state: WorldState) {
  const { plan, dir } = state;
  const networksFile = join(dir, 'dns-networks.txt');
  const regionsFile = join(dir, 'dns-regions.txt');
  const tables = worldDnsTables(plan);
  writeFileSync(networksFile, tables.networks);
  writeFileSync(regionsFile, tables.regions);
  const logFile = join(dir, 'logs', 'dns.log');
  state.processes.push(
    startDetached(
      'dns',
      nearbyBin,
      [
        ...['dns', 'serve', '--zone', plan.options.appsDomain, '--listen', `${plan.gateway}:53`],
        ...['--networks', networksFile, '--regions', regionsFile],
        ...['--query-log', join(dir, 'logs', 'dns-queries.log')],
        // A host that stops answering is left out, its users sent to the next nearest region.
        ...(plan.anycast ? [] : ['--check-edges', '--check-interval', '500ms']),
      ],
      { logFile, cwd: dir, execs: nearbyExecs },
    ),
  );
  saveState(state);
  await waitFor(
    'the GeoDNS',
    async () => readFileSync(logFile, 'utf8').includes('dns ready'),
    logFile,
    state.processes.slice(-1),
    30_000,
  );
  state.dnsAddress = `${plan.gateway}:53`;
  saveState(state);
}
