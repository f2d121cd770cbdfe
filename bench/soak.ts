/**
 * `npm run soak [-- --minutes 6 --months 1 --sample-seconds 20]`: a month of autostop, metering
 * and budget loops in minutes. One `nearby server` on billing's fast clock
 * (`NEARBY_CLOCK_OFFSET_FILE`, moved forward every second so `--months` pass in `--minutes`), its
 * meter and autostop every second, an app of two machines that stop when idle and wake on a
 * request (one every 2 s), and an org budget the month's usage crosses (warnings, shrinking,
 * suspension, the next month opening it again: the clock starts on the 10th). Every `--sample-seconds` it prints the memory of
 * each long-lived process — the server (RSS, and its V8 heap from the proxy's /metrics), its
 * registry, HAProxy's master and worker — and at the end whether each stayed flat (the last
 * third's median at most 10 % above the first third's, after a warm-up sample; shrinking is fine).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { CLOCK_OFFSET_ENV } from '../src/billing/clock.ts';
import { proxyPaths } from '../src/proxy/haproxy-config.ts';
import { runCommand } from '../src/run-command.ts';
import { getApp } from '../test/helpers/http.ts';
import { helloImage } from '../test/helpers/images.ts';
import { startNearby } from '../test/helpers/nearby.ts';
import { freePort, startRegistry } from '../test/helpers/registry.ts';
import { stats } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '6' },
    months: { type: 'string', default: '1' },
    'sample-seconds': { type: 'string', default: '20' },
  },
});
const runMs = Number(values.minutes) * 60_000;
const MONTH_MS = 30 * 24 * 3600_000;
/** Billing time that passes each real second. */
const stepMs = (Number(values.months) * MONTH_MS) / (runMs / 1000);
const sampleMs = Number(values['sample-seconds']) * 1000;
const FLAT = 0.1;

/** Resident memory of `pid` in MB (undefined: gone). */
async function rssMb(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) / 1024;
}

/** Pids whose command line holds `word` (this run's own data dir: only its processes). */
async function pidsWith(word: string): Promise<number[]> {
  const found = await runCommand('pgrep', ['-f', '--', word], { timeoutMs: 10_000 });
  return found.stdout.split('\n').filter(Boolean).map(Number);
}

const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
try {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-soak-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const clockFile = join(dir, 'clock-offset-ms');
  // From the 10th of this month at midnight: the budget is crossed within it and the next month
  // starts two thirds of the way through a month's run.
  const today = new Date();
  let offset = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 10) - Date.now();
  await writeFile(clockFile, String(offset));
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const metricsPort = await freePort();
  const nearby = await startNearby(hooks, {
    args: [
      ...['--meter-interval', '1s', '--autostop-interval', '1s', '--autostop-idle', '3s'],
      ...['--metrics-listen', `127.0.0.1:${metricsPort}`],
    ],
    env: { [CLOCK_OFFSET_ENV]: clockFile },
    logFile: join(dir, 'server.log'),
  });
  const created = await nearby.api('POST', '/v1/apps', { app_name: 'soak', org_slug: 'acme' });
  if (created.status !== 201) throw new Error(`app: ${created.status} ${JSON.stringify(created.body)}`);
  await writeFile(
    join(dir, 'nearby.toml'),
    `app = "soak"\nprimary_region = "${nearby.region}"\n\n[build]\n  image = "${image}"\n\n` +
      '[http_service]\n  internal_port = 8080\n  auto_stop_machines = "stop"\n  auto_start_machines = true\n  min_machines_running = 0\n',
  );
  const deployed = await nearby.cli(['deploy'], { cwd: dir, timeoutMs: 180_000 });
  if (deployed.code !== 0) throw new Error(`deploy: ${deployed.stderr}`);
  // A budget a month of two small machines crosses part way (the meters count the clock's jumps).
  const budget = await nearby.cli(['billing', 'budget', 'set', '0.5', '--org', 'acme'], { cwd: dir });
  if (budget.code !== 0) throw new Error(`budget: ${budget.stderr}`);

  const names = ['server', 'registry', 'haproxy master', 'haproxy worker'] as const;
  const samples = new Map<string, number[]>(names.map((name) => [name, []]));
  const heap: number[] = [];
  const processes = async () => {
    const ours = await pidsWith(nearby.dataDir);
    const master = Number((await readFile(proxyPaths(nearby.dataDir).pidFile, 'utf8')).trim());
    const workers = await runCommand('pgrep', ['-P', String(master)], { timeoutMs: 10_000 });
    const cmdline = async (pid: number) =>
      (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ');
    const found: Partial<Record<(typeof names)[number], number>> = {
      'haproxy master': master,
      'haproxy worker': Number(workers.stdout.split('\n')[0]),
    };
    for (const pid of ours) {
      const line = await cmdline(pid);
      if (line.includes(' server ') && line.includes('main.ts')) found.server = pid;
      else if (/registry/.test(line) && !line.includes('main.ts')) found.registry = pid;
    }
    return found;
  };
  let requests = { ok: 0, failed: 0, refused402: 0 };
  let running = true;
  const load = (async () => {
    while (running) {
      const answer = await getApp(nearby.proxyPort, 'soak').catch(() => undefined);
      if (answer?.status === 200) requests.ok++;
      else if (answer?.status === 402) requests.refused402++;
      else requests.failed++;
      await delay(2000);
    }
  })();
  const clock = (async () => {
    while (running) {
      await delay(1000);
      offset += stepMs;
      await writeFile(clockFile, String(offset));
    }
  })();
  console.log(
    `soak: ${values.months} month(s) of billing time in ${values.minutes} min (${Math.round(stepMs / 60_000)} billing minutes a second); meter and autostop every 1 s, autostop idle 3 s; a request every 2 s; budget $0.50 for org acme`,
  );
  console.log(
    'elapsed  billing date  spent      server MB  heap MB  registry MB  haproxy MB (master/worker)',
  );
  const started = Date.now();
  while (Date.now() - started < runMs) {
    await delay(sampleMs);
    const found = await processes();
    for (const name of names) {
      const pid = found[name];
      const mb = pid === undefined ? undefined : await rssMb(pid);
      if (mb !== undefined) samples.get(name)?.push(mb);
    }
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      .then((response) => response.text())
      .catch(() => '');
    const heapMb = Number(/^nodejs_heap_size_used_bytes (\d+)/m.exec(metrics)?.[1] ?? Number.NaN) / 2 ** 20;
    heap.push(heapMb);
    const usage = await nearby.cli(['billing', 'usage', '--org', 'acme', '--json'], { cwd: dir });
    const view =
      usage.code === 0 ? (JSON.parse(usage.stdout) as { month: string; spent_usd: number }) : undefined;
    const last = (name: string) => samples.get(name)?.at(-1)?.toFixed(1) ?? '-';
    console.log(
      `${String(Math.round((Date.now() - started) / 1000)).padStart(5)} s  ${new Date(Date.now() + offset).toISOString().slice(0, 10)}    ${`$${view?.spent_usd.toFixed(3) ?? '?'}`.padEnd(9)}  ${last('server').padStart(9)}  ${heapMb.toFixed(1).padStart(7)}  ${last('registry').padStart(11)}  ${last('haproxy master')}/${last('haproxy worker')}   requests ok=${requests.ok} 402=${requests.refused402} failed=${requests.failed}`,
    );
  }
  running = false;
  await Promise.all([load, clock]);
  const flat = (series: number[]) => {
    const kept = series.slice(1).filter((value) => Number.isFinite(value));
    const third = Math.max(1, Math.floor(kept.length / 3));
    const first = stats(kept.slice(0, third)).p50;
    const end = stats(kept.slice(-third)).p50;
    return { first, end, growth: (end - first) / first };
  };
  console.log('');
  for (const [name, series] of [...samples, ['server heap', heap] as const]) {
    if (series.length < 4) {
      console.log(`soak_${name.replace(/ /g, '_')}: too few samples (${series.length})`);
      continue;
    }
    const { first, end, growth } = flat(series);
    const key = `soak_${name.replace(/ /g, '_')}`;
    console.log(
      `${key}_mb_first=${first.toFixed(1)} ${key}_mb_last=${end.toFixed(1)} ${key}_growth_pct=${(growth * 100).toFixed(1)} ${key}_flat=${growth <= FLAT ? 'yes' : 'no'}`,
    );
  }
  console.log(
    `soak_requests_ok=${requests.ok} soak_requests_402=${requests.refused402} soak_requests_failed=${requests.failed}`,
  );
  requests = { ok: 0, failed: 0, refused402: 0 };
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
