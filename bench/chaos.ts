/**
 * `npm run chaos [-- --regions iad,fra,syd --fault-seconds 5]`: faults under load in the world
 * (docs/chaos.md). A world whose hosts run `nearby agent` and `nearby proxy` as two processes
 * (`world up --split-parts`), the app `chaos` with a machine in every region, a load client in
 * every client city (bench/lib/city-load.ts: requests to the app's name, a fresh connection each,
 * each with a request id, tried again up to 3 times) and a writer of acknowledged API writes. In
 * turn: kill -9 HAProxy (its proxy starts it again), `nearby proxy`, `nearby agent`, the NATS node
 * leading the store's stream, the API; fill a host's disk (`world up --host-disk-mb`); cut the link between two regions, then a whole host;
 * each started again (mended) after `--fault-seconds`. Prints per fault the requests answered,
 * failed and retried and the seconds from the restart until the last failed or retried request,
 * then `chaos_requests_answered_ratio=` and `chaos_state_lost=` (acknowledged writes missing).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { proxyPaths } from '../src/proxy/haproxy-config.ts';
import { runCommand } from '../src/run-command.ts';
import { StoreConnection } from '../src/store/nats/connection.ts';
import {
  crashHost,
  cutLink,
  hostRoles,
  killProcess,
  mendLink,
  restartProcesses,
} from '../src/world/faults.ts';
import { ports } from '../src/world/plan.ts';
import { loadState } from '../src/world/state.ts';
import { missingWrites, startWriter } from '../test/helpers/load.ts';
import { eventually, nearbyBin } from '../test/helpers/nearby.ts';
import { startWorld, timeRequests, type World } from '../test/helpers/world.ts';

const { values } = parseArgs({
  options: {
    regions: { type: 'string', default: 'iad,fra,syd' },
    clients: { type: 'string' },
    'fault-seconds': { type: 'string', default: '5' },
    'host-disk-mb': { type: 'string', default: '256' },
  },
});
const regions = values.regions.split(',');
const clients = (values.clients ?? values.regions).split(',');
const faultMs = Number(values['fault-seconds']) * 1000;
const diskMb = Number(values['host-disk-mb']);
if (regions.length < 3)
  throw new Error('--regions: give three (the store needs a quorum when a NATS node dies)');
/** Without trouble this long after a fault is healed, every client has full service again. */
const QUIET_MS = 5000;

interface CityCounters {
  ok: number;
  failed: number;
  retried: number;
  lastTrouble: number;
  failures: string[];
}

/** The load client of one city, as a child process in the city's namespace. */
function cityLoad(world: World, city: string) {
  const url = `http://chaos.${world.status.apps_domain}/`;
  const child: ChildProcess = spawn(
    nearbyBin,
    [
      ...['world', 'run', '--dir', world.dir, '--client', city, '--'],
      ...[process.execPath, '--disable-warning=ExperimentalWarning'],
      ...[join(import.meta.dirname, 'lib', 'city-load.ts'), city, url],
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const state = {
    city,
    counters: { ok: 0, failed: 0, retried: 0, lastTrouble: 0, failures: [] } as CityCounters,
    failures: [] as string[],
    at: 0,
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    try {
      const counters = JSON.parse(line) as CityCounters;
      state.counters = counters;
      state.failures.push(...counters.failures);
      state.at = Date.now();
    } catch {
      console.log(`${city}: ${line}`);
    }
  });
  return {
    state,
    async stop() {
      child.stdin?.end();
      await exited;
    },
  };
}

type CityLoad = ReturnType<typeof cityLoad>;

const totals = (loads: CityLoad[]) =>
  loads.reduce(
    (sum, load) => ({
      ok: sum.ok + load.state.counters.ok,
      failed: sum.failed + load.state.counters.failed,
      retried: sum.retried + load.state.counters.retried,
    }),
    { ok: 0, failed: 0, retried: 0 },
  );

const round1 = (ms: number) => Math.round(ms / 100) / 10;

async function main() {
  console.log(
    `chaos world: regions ${regions.join(',')} (one host each, agent and proxy as two processes, its data dir on its own ${diskMb} MB disk, a NATS node each, the API in ${regions[0]}), clients ${clients.join(',')}`,
  );
  console.log(
    `load: one client process per city, a request after another to http://chaos.<apps domain>/ through the GeoDNS, a fresh connection each, up to 3 tries 250 ms apart; writer: API writes one after another from the operator's seat; each fault lasts ${faultMs / 1000} s`,
  );
  const world = await startWorld(regions, clients, ['--split-parts', '--host-disk-mb', String(diskMb)]);
  const cleanups: (() => Promise<void>)[] = [];
  try {
    await run(world, cleanups);
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.log(String(error)));
    await world.down();
  }
}

async function run(world: World, cleanups: (() => Promise<void>)[]) {
  const { dir } = world;
  const hostOf = (region: string) => `${region}-1`;
  const dataDir = (hostName: string) => join(dir, 'hosts', hostName);
  const image = await world.pushHello();
  for (const app of ['chaos', 'ledger']) await world.cli(['apps', 'create', app]);
  const toml = `app = "chaos"\nprimary_region = "${regions[0]}"\n[http_service]\n  internal_port = 8080\n  auto_stop_machines = "off"\n`;
  await world.deploy(toml, image, '--no-ha');
  await world.cli(['scale', 'count', String(regions.length), '--region', regions.join(','), '-a', 'chaos']);
  for (const city of clients.filter((client) => regions.includes(client)))
    await eventually(
      async () =>
        (await timeRequests(world, city, 'chaos', 1)).answer.trim().endsWith(` ${city}`) ? true : undefined,
      180_000,
      `${city} answered from ${city}`,
    );
  console.log(`deployed: chaos has a machine in each of ${regions.join(', ')}`);

  const loads = clients.map((city) => cityLoad(world, city));
  cleanups.push(async () => {
    for (const load of loads) await load.stop();
  });
  const writer = startWriter({ apiUrl: world.status.api_url, token: world.status.token });
  cleanups.push(() => writer.stop());
  await eventually(
    async () => (loads.every((load) => load.state.counters.ok > 0) ? true : undefined),
    60_000,
  );

  const fullService = async () => {
    await eventually(
      async () =>
        loads.every((load) => load.state.at > 0 && Date.now() - load.state.counters.lastTrouble > QUIET_MS)
          ? true
          : undefined,
      300_000,
      'every client without failures or retries',
    );
  };
  await fullService();
  const results: string[] = [];

  /** One fault under load: `hit`, the fault's time, `heal`; then figures until full service. */
  async function fault(name: string, what: string, hit: () => Promise<void>, heal: () => Promise<void>) {
    const before = totals(loads);
    const writes = { acknowledged: writer.secrets.length + writer.apps.length, refused: writer.refused };
    const beforeRefusals = writer.refusals.length;
    const beforeFailures = loads.map((load) => load.state.failures.length);
    const hitAt = Date.now();
    await hit();
    await delay(faultMs);
    await heal();
    const healed = Date.now();
    await fullService();
    // Writes too: the API acknowledges one again.
    await eventually(
      async () => (writer.lastAcknowledged > healed ? true : undefined),
      300_000,
      `a write acknowledged after ${name} (refused: ${writer.refusals.slice(-3).join('; ')})`,
    );
    const writesBack = round1(writer.lastAcknowledged - healed);
    const after = totals(loads);
    const lastTrouble = Math.max(...loads.map((load) => load.state.counters.lastTrouble));
    const seconds = lastTrouble > hitAt ? round1(Math.max(0, lastTrouble - healed)) : 0;
    const failures = loads.flatMap((load, index) =>
      load.state.failures.slice(beforeFailures[index]).map((failure) => `${load.state.city} ${failure}`),
    );
    const line = `chaos_${name}: answered=${after.ok - before.ok} failed=${after.failed - before.failed} retried=${after.retried - before.retried} full_service_s=${seconds} writes_back_s=${writesBack} writes_acknowledged=${writer.secrets.length + writer.apps.length - writes.acknowledged} writes_refused=${writer.refused - writes.refused}`;
    console.log(`${line}  (${what})`);
    for (const failure of failures.slice(0, 5)) console.log(`  failed: ${failure}`);
    const reasons = new Map<string, number>();
    for (const refusal of writer.refusals.slice(beforeRefusals)) {
      const reason = refusal.replace(/K\d+|ledger-\d+/g, '…').slice(0, 160);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    for (const [reason, count] of reasons) console.log(`  write refused ×${count}: ${reason}`);
    results.push(line);
  }

  const target = hostOf(regions[1]);
  const pidFile = proxyPaths(dataDir(target)).pidFile;
  const haproxyPid = () => Number(readFileSync(pidFile, 'utf8').trim());
  const killed = haproxyPid();
  await fault(
    'haproxy',
    `kill -9 HAProxy on ${target}; its proxy starts it again`,
    async () => {
      process.kill(killed, 'SIGKILL');
    },
    async () => {
      await eventually(
        async () => {
          const pid = haproxyPid();
          if (pid === killed) return undefined;
          process.kill(pid, 0);
          return true;
        },
        120_000,
        `HAProxy on ${target} started again`,
      );
    },
  );
  for (const part of ['proxy', 'agent'])
    await fault(
      part,
      `kill -9 \`nearby ${part}\` on ${target}, started again after ${faultMs / 1000} s`,
      () => killProcess(dir, `${part} ${target}`),
      async () => restartProcesses(dir, [`${part} ${target}`]),
    );

  const fill = join(dataDir(target), 'chaos-fill');
  await fault(
    'disk',
    `fill ${target}'s disk (its data dir's ${diskMb} MB filesystem) with a file, removed after ${faultMs / 1000} s`,
    async () => {
      // dd stops at "No space left on device": that is the point.
      await runCommand('dd', ['if=/dev/zero', `of=${fill}`, 'bs=1M', 'status=none'], { timeoutMs: 120_000 });
      const { bavail } = statfsSync(dataDir(target));
      console.log(`  ${target}'s disk full: ${bavail} blocks free`);
    },
    async () => rmSync(fill, { force: true }),
  );

  const state = loadState(dir);
  const natsUrls = state.plan.natsHosts.map((host) => `nats://${host.address}:${ports.nats}`);
  const conn = await StoreConnection.open({ servers: natsUrls });
  const leader = (await conn.jsm.streams.info('KV_nearby_state').finally(() => conn.close())).cluster?.leader;
  const natsRole = `nats ${leader ?? regions[0]}`;
  await fault(
    'nats_node',
    `kill -9 ${natsRole}, the leader of the store's stream`,
    () => killProcess(dir, natsRole),
    async () => restartProcesses(dir, [natsRole]),
  );
  await fault(
    'api',
    'kill -9 `nearby api`',
    () => killProcess(dir, 'api'),
    async () => {
      restartProcesses(dir, ['api']);
      await eventually(
        async () =>
          (await fetch(`${world.status.api_url}/health`).catch(() => undefined))?.ok ? true : undefined,
        120_000,
        'the API answers again',
      );
    },
  );
  const [a, b] = [regions[1], regions[2]];
  await fault(
    'link',
    `cut the link ${a}–${b} both ways, mended after ${faultMs / 1000} s`,
    () => cutLink(dir, a, b),
    () => mendLink(dir, a, b),
  );
  const victim = hostOf(regions[2]);
  const roles = hostRoles(dir, victim);
  await fault(
    'host',
    `kill -9 everything on ${victim} (${roles.join(', ')} and its machines), all started again`,
    () => crashHost(dir, victim),
    async () => restartProcesses(dir, roles),
  );

  for (const load of loads) await load.stop();
  await writer.stop();
  // Read until the store answers (a read refused is not a write lost).
  const lost = await eventually(
    () => missingWrites(writer, { apiUrl: world.status.api_url, token: world.status.token }),
    300_000,
    'the API reads the writes back',
  );
  const all = totals(loads);
  console.log('\nper fault:');
  for (const line of results) console.log(line);
  console.log(`chaos_requests_answered=${all.ok}`);
  console.log(`chaos_requests_failed=${all.failed}`);
  console.log(`chaos_requests_retried=${all.retried}`);
  console.log(`chaos_requests_answered_ratio=${(all.ok / Math.max(1, all.ok + all.failed)).toFixed(5)}`);
  console.log(`chaos_writes_acknowledged=${writer.secrets.length + writer.apps.length}`);
  console.log(`chaos_writes_refused=${writer.refused}`);
  console.log(`chaos_state_lost=${lost.length}${lost.length ? ` (${lost.slice(0, 10).join(', ')})` : ''}`);
}

await main();
