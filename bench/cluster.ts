/**
 * `npm run bench -- cluster [rounds]`: routing across hosts on a NATS JetStream store (three-node
 * cluster on loopback) holding 1,000 apps and 5,000 machines, with three proxies as three hosts in
 * three regions (each its own HAProxy and its own store connection, one Node process).
 * - route propagation: a probe app's machine moves from host-a to host-b (one machine-status put
 *   stops the old, one starts the new); measured from the first put until requests to every proxy
 *   are answered by the new machine (after a few rounds of warm-up).
 * - cross-host cost: p50 latency of a request through host-a to a machine on host-b (backhaul, mutual
 *   TLS) minus the p50 straight through host-b.
 * - store put p50 on SQLite and on NATS.
 * Prints `name=value` lines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { keys } from '../src/model/keys.ts';
import type { AppRecord, MachineRecord } from '../src/model/mod.ts';
import { type EdgeProxy, startProxy } from '../src/proxy/mod.ts';
import { NatsStore } from '../src/store/nats.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';
import { reportedStatus as status } from '../test/helpers/machine-status.ts';
import { startNatsCluster } from '../test/helpers/nats.ts';
import { makeClusterCredential } from '../test/helpers/proxy-cluster.ts';
import { freePort } from '../test/helpers/registry.ts';
import { stats } from './lib/stats.ts';

const rounds = Number(process.argv[2] ?? 30);
const APPS = 1000;
const MACHINES_PER_APP = 5;
const WARMUP_ROUNDS = 4;
const now = () => new Date().toISOString();
const fixed = (value: number) => value.toFixed(2);
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

const hosts = [
  { name: 'host-a', region: 'fra', address: '127.0.0.1' },
  { name: 'host-b', region: 'ams', address: '127.0.0.2' },
  { name: 'host-c', region: 'syd', address: '127.0.0.3' },
];

function machine(app: string, id: string, host: (typeof hosts)[number], port: number): MachineRecord {
  return {
    id,
    name: `${app}-${id}`,
    app,
    region: host.region,
    host: host.name,
    instance_id: '01INSTANCE1',
    config: {
      image: 'registry.nearby.local/hello:latest',
      services: [{ protocol: 'tcp', internal_port: port, ports: [{ port: 80, handlers: ['http'] }] }],
    },
    image_ref: { registry: 'registry.nearby.local', repository: 'hello', tag: 'latest', digest: 'sha256:00' },
    desired: { state: 'started', seq: 1 },
    events: [],
    created_at: now(),
    updated_at: now(),
  };
}

async function putMany(store: Store, entries: [string, unknown][]) {
  for (let i = 0; i < entries.length; i += 200) {
    await Promise.all(entries.slice(i, i + 200).map(([key, value]) => store.put(key, value)));
  }
}

async function storePutP50(store: Store): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 50; i++) await store.put(`warm/${i}`, { i });
  for (let i = 0; i < 300; i++) {
    const start = process.hrtime.bigint();
    await store.put(`bench/put/${i % 100}`, { i });
    samples.push(ms(start));
  }
  return stats(samples).p50;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function ask(address: string, port: number, app: string): Promise<string> {
  return new Promise((resolve) => {
    const request = http.request(
      { host: address, port, path: '/', headers: { host: `${app}.apps.test` }, agent },
      (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () =>
          resolve(response.statusCode === 200 ? body : `status ${response.statusCode}`),
        );
      },
    );
    request.on('error', (error) => resolve(`error ${error.message}`));
    request.end();
  });
}

const root = await mkdtemp(join(tmpdir(), 'nearby-bench-cluster-'));
const sqlite = new SqliteStore(join(root, 'state.db'));
const sqliteP50 = await storePutP50(sqlite);
await sqlite.close();

const cluster = await startNatsCluster();
const credential = await makeClusterCredential();
const stores: NatsStore[] = [];
const proxies: EdgeProxy[] = [];
const servers: http.Server[] = [];
try {
  const seed = await NatsStore.open({ servers: cluster.urls, prefix: 'bench' });
  stores.push(seed);
  const natsP50 = await storePutP50(seed);

  // Machines answer with their id; fillers point at a port where nothing listens (never asked).
  const port = await freePort();
  const answering = new Map<string, string>([
    ['probe-a', '127.0.0.1'],
    ['probe-b', '127.0.0.2'],
    ['near-b', '127.0.0.4'],
  ]);
  for (const [id, address] of answering) {
    const server = http.createServer((_, res) => res.end(id));
    await new Promise<void>((resolve) => server.listen(port, address, resolve));
    servers.push(server);
  }
  const entries: [string, unknown][] = [];
  for (let a = 0; a < APPS; a++) {
    const app = `app${a}`;
    entries.push([keys.app(app), { id: app, name: app, org_slug: 'o', network: 'n', created_at: now() }]);
    for (let m = 0; m < MACHINES_PER_APP; m++) {
      const host = hosts[(a + m) % hosts.length];
      const record = machine(app, `${app}m${m}`, host, 9);
      entries.push([keys.machine(app, record.id), record]);
      entries.push([keys.machineStatus(host.name, record.id), status(record, 'started', '127.0.0.9')]);
    }
  }
  const appRecord = (name: string): AppRecord => ({
    id: name,
    name,
    org_slug: 'o',
    network: 'n',
    created_at: now(),
  });
  const probeA = machine('probe', 'probe-a', hosts[0], port);
  const probeB = machine('probe', 'probe-b', hosts[1], port);
  const nearB = machine('near', 'near-b', hosts[1], port);
  entries.push(
    [keys.app('probe'), appRecord('probe')],
    [keys.app('near'), appRecord('near')],
    [keys.machine('probe', probeA.id), probeA],
    [keys.machine('probe', probeB.id), probeB],
    [keys.machine('near', nearB.id), nearB],
    [keys.machineStatus('host-a', probeA.id), status(probeA, 'started', '127.0.0.1')],
    [keys.machineStatus('host-b', probeB.id), status(probeB, 'stopped', '127.0.0.2')],
    [keys.machineStatus('host-b', nearB.id), status(nearB, 'started', '127.0.0.4')],
  );
  const loadStart = Date.now();
  await putMany(seed, entries);
  const loadMs = Date.now() - loadStart;

  // BENCH_LOG=1: info lines; BENCH_LOG=debug: also each sync pass, its kind and duration.
  const log = pino({
    level: process.env.BENCH_LOG === 'debug' ? 'debug' : process.env.BENCH_LOG ? 'info' : 'silent',
  });
  const listens: { address: string; port: number }[] = [];
  const startStart = Date.now();
  for (const host of hosts) {
    const store = await NatsStore.open({ servers: cluster.urls, prefix: 'bench' });
    stores.push(store);
    const httpPort = await freePort();
    listens.push({ address: host.address, port: httpPort });
    const proxy = startProxy({
      store,
      region: host.region,
      host: host.name,
      dataDir: join(root, host.name),
      appsDomain: 'apps.test',
      httpListen: `${host.address}:${httpPort}`,
      tlsListen: `${host.address}:${await freePort()}`,
      backhaul: { listen: `${host.address}:${await freePort()}`, ...credential },
      log: log.child({ host: host.name }),
    });
    proxies.push(proxy);
  }
  await Promise.all(proxies.map((proxy) => proxy.ready));
  const readyMs = Date.now() - startStart;

  /** Until every proxy answers `want` for the probe app; the time from `start`. */
  async function allAnswer(want: string, start: bigint): Promise<number> {
    const pending = new Set(listens.map((_, index) => index));
    const deadline = Date.now() + 30_000;
    while (pending.size > 0) {
      if (Date.now() > deadline) throw new Error(`proxies ${[...pending]} never answered ${want}`);
      await Promise.all(
        [...pending].map(async (index) => {
          const listen = listens[index];
          if ((await ask(listen.address, listen.port, 'probe')) === want) pending.delete(index);
        }),
      );
      if (pending.size > 0) await sleep(2);
    }
    return ms(start);
  }
  // Peers see each other (first heartbeat) before measuring.
  await allAnswer('probe-a', process.hrtime.bigint());
  const propagation: number[] = [];
  let on = probeA;
  let off = probeB;
  // The first rounds are not counted: right after start the peers' RTTs still reorder the regions
  // (each reorder is a full pass on every proxy), which is start-up, not propagation.
  for (let round = 0; round < rounds + WARMUP_ROUNDS; round++) {
    [on, off] = [off, on];
    const start = process.hrtime.bigint();
    await seed.put(keys.machineStatus(off.host, off.id), status(off, 'stopped', answering.get(off.id) ?? ''));
    await seed.put(keys.machineStatus(on.host, on.id), status(on, 'started', answering.get(on.id) ?? ''));
    const took = await allAnswer(on.id, start);
    if (round >= WARMUP_ROUNDS) propagation.push(took);
    await sleep(200);
  }

  // Through host-a (fra) to host-b's machine, against straight through host-b.
  async function latencies(listen: { address: string; port: number }): Promise<number[]> {
    const samples: number[] = [];
    for (let i = 0; i < 50; i++) await ask(listen.address, listen.port, 'near');
    for (let i = 0; i < 500; i++) {
      const start = process.hrtime.bigint();
      const answer = await ask(listen.address, listen.port, 'near');
      if (answer !== 'near-b') throw new Error(`unexpected answer ${answer}`);
      samples.push(ms(start));
    }
    return samples;
  }
  const direct = stats(await latencies(listens[1])).p50;
  const crossed = stats(await latencies(listens[0])).p50;
  const p = stats(propagation);
  console.log(
    `apps=${APPS + 2} machines=${APPS * MACHINES_PER_APP + 3} proxies=3 store=nats load_ms=${loadMs} proxies_ready_ms=${readyMs}`,
  );
  console.log(
    `route_propagation_p50_ms=${fixed(p.p50)} route_propagation_p99_ms=${fixed(p.p99)} rounds=${rounds}`,
  );
  console.log(
    `proxy_cross_host_added_ms=${fixed(crossed - direct)} proxy_direct_p50_ms=${fixed(direct)} proxy_cross_host_p50_ms=${fixed(crossed)}`,
  );
  console.log(`store_put_p50_ms_sqlite=${fixed(sqliteP50)} store_put_p50_ms_nats=${fixed(natsP50)}`);
} finally {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  for (const server of servers) server.close();
  agent.destroy();
  for (const store of stores) await store.close();
  await cluster.stop();
  credential.close();
  await rm(root, { recursive: true, force: true });
}
