/**
 * `nearby world up`: makes the links (links.ts), then the cluster in them — a NATS node in each of
 * the first three regions, `nearby api` in the first region, `nearby node` on every host with the
 * backhaul and one cluster credential — and the GeoDNS every namespace resolves through. Each
 * thing made is written to the state file as it is made; on a failure everything made is removed.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { renderNatsServerConfig } from '../store/nats/server-config.ts';
import { takeDown } from './down.ts';
import { worldError } from './errors.ts';
import { makeBridge, makeNamespace, sh } from './links.ts';
import type { RttMatrix } from './matrix.ts';
import { type PlannedHost, ports, type WorldPlan } from './plan.ts';
import { isRunning, startDetached } from './processes.ts';
import { hasState, saveState, type WorldProcess, type WorldState } from './state.ts';

export const nearbyBin = join(import.meta.dirname, '..', '..', 'bin', 'nearby');
/** bin/nearby execs node on src/cli/main.ts. */
const nearbyExecs = ['main.ts'];

export async function bringUp(
  dir: string,
  plan: WorldPlan,
  matrix: RttMatrix,
  say: (line: string) => void,
): Promise<WorldState> {
  const worldDir = resolve(dir);
  if (hasState(worldDir))
    throw worldError(
      'WORLD_EXISTS',
      `a world already lives in ${worldDir}`,
      'see it with `nearby world status`, or remove it with `nearby world down`',
    );
  const taken = await sh('ip', ['netns', 'list']);
  for (const space of [...plan.hosts, ...plan.clients])
    if (taken.split('\n').some((line) => line.split(' ')[0] === space.netns))
      throw worldError(
        'WORLD_EXISTS',
        `namespace ${space.netns} exists already`,
        'another world has this name: pick --name',
      );
  mkdirSync(join(worldDir, 'logs'), { recursive: true, mode: 0o700 });
  const state: WorldState = {
    dir: worldDir,
    plan,
    namespaces: [],
    processes: [],
    hostDataDirs: [],
    ready: false,
  };
  saveState(state);
  try {
    await makeBridge(state);
    for (const space of [...plan.hosts, ...plan.clients]) {
      await makeNamespace(state, space);
      // No default route in a host: other hosts' machine subnets fail fast (proxies reach them through their host's proxy).
      if (space.kind === 'host') {
        await sh('ip', ['-n', space.netns, 'route', 'add', 'unreachable', '172.20.0.0/16']);
        await sh('ip', ['-n', space.netns, '-6', 'route', 'add', 'unreachable', 'fdaa:0:100::/48']);
      }
    }
    say(
      `links: ${plan.cities.length} cities, ${plan.hosts.length + plan.clients.length} namespaces, delays from data/rtt-matrix.tsv`,
    );
    const natsUrls = await startNats(state);
    say(`nats: ${plan.natsHosts.map((host) => host.region).join(', ')}`);
    await startApi(state, natsUrls);
    say(`api: ${state.apiUrl} (registry ${state.registry})`);
    await startHosts(state, natsUrls, matrix);
    say(`hosts: ${plan.hosts.map((host) => `${host.hostName} ${host.address}`).join(', ')}`);
    await startDns(state);
    say(`dns: ${state.dnsAddress} answers *.${plan.options.appsDomain} with the nearest region's edge`);
    state.ready = true;
    saveState(state);
    return state;
  } catch (error) {
    say(`world up failed: ${(error as Error).message}; removing what it made`);
    await takeDown(worldDir, () => {});
    throw error;
  }
}

async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  logFile: string,
  processes: WorldProcess[],
  timeoutMs = 120_000,
) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    exited = processes.some((process) => !isRunning(process));
    if (exited) break;
    await delay(200);
  }
  let log = '';
  try {
    log = readFileSync(logFile, 'utf8').slice(-3000);
  } catch {}
  throw worldError(
    'WORLD_UP_FAILED',
    `${what} was not ready within ${timeoutMs / 1000} s`,
    `its log (${logFile}):\n${log}`,
  );
}

async function startNats(state: WorldState): Promise<string[]> {
  const { plan, dir } = state;
  const routes = plan.natsHosts.map((host) => `${host.address}:${ports.natsCluster}`);
  for (const host of plan.natsHosts) {
    const config = join(dir, 'nats', `${host.region}.conf`);
    mkdirSync(join(dir, 'nats'), { recursive: true });
    const text = renderNatsServerConfig({
      name: host.region,
      listen: `${host.address}:${ports.nats}`,
      clusterListen: `${host.address}:${ports.natsCluster}`,
      routes,
      storeDir: join(dir, 'nats', host.region),
      clusterName: `nearby-world-${plan.options.name}`,
      monitorListen: `${host.address}:${ports.natsMonitor}`,
      maxMemoryStore: '64MB',
      maxFileStore: '1GB',
    });
    // One node is no cluster: nats-server refuses a JetStream cluster with no route to another node.
    writeFileSync(config, plan.natsHosts.length === 1 ? text.slice(0, text.indexOf('cluster {')) : text);
    state.processes.push(
      startDetached(`nats ${host.region}`, 'nats-server', ['-c', config], {
        netns: host.netns,
        logFile: join(dir, 'logs', `nats-${host.region}.log`),
        cwd: dir,
      }),
    );
    saveState(state);
  }
  // Ready when every node agrees on one JetStream meta leader.
  await waitFor(
    'the NATS cluster',
    async () => {
      if (plan.natsHosts.length === 1)
        return (await fetch(`http://${plan.natsHosts[0].address}:${ports.natsMonitor}/healthz`)).ok;
      const leaders = new Set<string>();
      for (const host of plan.natsHosts) {
        const response = await fetch(`http://${host.address}:${ports.natsMonitor}/jsz`);
        const jsz = (await response.json()) as { meta_cluster?: { leader?: string } };
        if (!jsz.meta_cluster?.leader) return false;
        leaders.add(jsz.meta_cluster.leader);
      }
      return leaders.size === 1;
    },
    join(dir, 'logs', `nats-${plan.natsHosts[0].region}.log`),
    state.processes.filter((process) => process.role.startsWith('nats ')),
  );
  return plan.natsHosts.map((host) => `nats://${host.address}:${ports.nats}`);
}

async function startApi(state: WorldState, natsUrls: string[]) {
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

async function startHosts(state: WorldState, natsUrls: string[], matrix: RttMatrix) {
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
  const credential = await makeBackhaulCredential(join(dir, 'backhaul'), plan.options.name);
  const started = plan.hosts.map(async (host) => {
    const dataDir = join(dir, 'hosts', host.hostName);
    // A host of a region with a NATS node uses every node. One of a region without gets only the
    // nearest (its client learns the others from the server for failover): given all, the client
    // picks one at random, and a start that went to a node across the planet did not finish.
    const nearest = [...natsUrls].sort(
      (a, b) =>
        matrix.rtt(host.region, natsRegion(plan, a)).ms - matrix.rtt(host.region, natsRegion(plan, b)).ms,
    );
    const urls = plan.natsHosts.some((nats) => nats.region === host.region) ? natsUrls : nearest.slice(0, 1);
    const logFile = join(dir, 'logs', `node-${host.hostName}.log`);
    const node = startDetached(
      `node ${host.hostName}`,
      nearbyBin,
      nodeArgs(state, host, urls, dataDir, tokenFile, credential),
      {
        netns: host.netns,
        logFile,
        cwd: dir,
        execs: nearbyExecs,
      },
    );
    state.processes.push(node);
    state.hostDataDirs.push({ dataDir, netns: host.netns });
    saveState(state);
    return waitFor(
      `nearby node ${host.hostName}`,
      async () => (await fetch(`http://${host.address}/`).catch(() => undefined)) !== undefined,
      logFile,
      [node],
      // A host far from every NATS node starts slowly (docs/world.md: ~80 s at 100 ms).
      240_000,
    );
  });
  await Promise.all(started);
}

function natsRegion(plan: WorldPlan, url: string): string {
  return (plan.natsHosts.find((host) => url.includes(`//${host.address}:`)) as PlannedHost).region;
}

function nodeArgs(
  state: WorldState,
  host: PlannedHost,
  natsUrls: string[],
  dataDir: string,
  tokenFile: string,
  credential: { certFile: string; caFile: string },
): string[] {
  return [
    ...['node', '--nats', natsUrls.join(','), '--region', host.region, '--host-name', host.hostName],
    ...['--address', host.address, '--data-dir', dataDir, '--api-url', state.apiUrl as string],
    ...['--token-file', tokenFile, '--bridge', host.machineBridge],
    ...['--proxy-listen', '0.0.0.0:80', '--proxy-tls-listen', '0.0.0.0:443'],
    ...['--apps-domain', state.plan.options.appsDomain, '--metrics-listen', '127.0.0.1:9480'],
    ...['--backhaul-listen', `${host.address}:4443`, '--backhaul-cert', credential.certFile],
    ...['--backhaul-ca', credential.caFile, '--log-format', 'json'],
  ];
}

/** One certificate every proxy of the world shares, which is also the backhaul's CA (docs/proxy.md). */
async function makeBackhaulCredential(dir: string, name: string) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'ca.pem');
  await sh('openssl', [
    ...[
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '365',
    ],
    ...['-subj', `/CN=nearby world ${name} backhaul`, '-keyout', keyFile, '-out', caFile],
  ]);
  const certFile = join(dir, 'cluster.pem');
  writeFileSync(certFile, readFileSync(caFile, 'utf8') + readFileSync(keyFile, 'utf8'), { mode: 0o600 });
  return { certFile, caFile };
}

async function startDns(state: WorldState) {
  const logFile = join(state.dir, 'logs', 'dns.log');
  state.processes.push(
    startDetached('dns', nearbyBin, ['world', 'dns', '--dir', state.dir], {
      logFile,
      cwd: state.dir,
      execs: nearbyExecs,
    }),
  );
  saveState(state);
  await waitFor(
    'the GeoDNS',
    async () => readFileSync(logFile, 'utf8').includes('dns ready'),
    logFile,
    state.processes.slice(-1),
    30_000,
  );
  state.dnsAddress = `${state.plan.gateway}:53`;
  saveState(state);
}
