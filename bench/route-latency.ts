/**
 * What the per-route latency table (src/proxy/route-latency.ts) costs HAProxy per request: two
 * HAProxies, one thread each, in front of the same `hello` server, one with an app backend's
 * metrics latency rules only (the reference) and one with the route-latency rules added, loaded
 * alternately by wrk. Prints req/s and HAProxy CPU µs per request of each (medians of the rounds)
 * and their ratio, then reads the table as the demand pass does and checks it counted.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { latencyLines, latencyTableLines, renderLatencyMap } from '../src/proxy/http-stats.ts';
import {
  parseRouteLatencyTable,
  ROUTE_LATENCY_TABLE,
  renderRouteLatencyMap,
  routeLatencyLines,
  routeLatencyTableLines,
} from '../src/proxy/route-latency.ts';
import { RuntimeApi } from '../src/proxy/runtime-api.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const DURATION = process.env.DURATION ?? '4s';
const TICK_US = 10_000; // USER_HZ 100
const HELLO = join(import.meta.dirname, '..', 'native', 'build', 'hello');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const cpuTicks = async (pid: number) => {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main() {
  if (!existsSync(HELLO)) throw new Error(`${HELLO} is missing: scripts/build-native.sh`);
  const dir = await mkdtemp(join(tmpdir(), 'nearby-bench-route-latency-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = await freePort();
    children.push(spawn(HELLO, [], { env: { PORT: String(upstream) }, stdio: 'ignore' }));
    await writeFile(join(dir, 'latency.map'), renderLatencyMap());
    await writeFile(join(dir, 'route-latency.map'), renderRouteLatencyMap());
    const variants = { metrics: [] as string[], route: routeLatencyLines(join(dir, 'route-latency.map')) };
    const configOf = (name: string, port: number, socket: string) =>
      [
        'global',
        '  nbthread 1',
        `  stats socket ${socket} level admin`,
        'defaults',
        '  mode http',
        '  timeout client 10s',
        '  timeout server 10s',
        '  timeout connect 2s',
        'frontend nearby_http',
        `  bind 127.0.0.1:${port}`,
        '  default_backend app_bench',
        'backend app_bench',
        '  http-reuse safe',
        ...latencyLines('bench', join(dir, 'latency.map')),
        ...variants[name as keyof typeof variants],
        `  server app_bench.1 127.0.0.1:${upstream}`,
        ...latencyTableLines(),
        ...routeLatencyTableLines(),
        '',
      ].join('\n');
    const proxies: Record<string, { port: number; pid: number; api: RuntimeApi }> = {};
    for (const name of Object.keys(variants)) {
      const port = await freePort();
      const socket = join(dir, `${name}.sock`);
      const file = join(dir, `${name}.cfg`);
      await writeFile(file, configOf(name, port, socket));
      const child = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });
      children.push(child);
      proxies[name] = { port, pid: child.pid as number, api: new RuntimeApi(socket) };
    }
    await sleep(500);
    const results: Record<string, { rps: number[]; cpuUs: number[] }> = {
      metrics: { rps: [], cpuUs: [] },
      route: { rps: [], cpuUs: [] },
    };
    const ratios: number[] = [];
    const load = loadAverage();
    for (let round = 0; round < ROUNDS; round++) {
      const rates: Record<string, number> = {};
      // Alternate which goes first, so neither always has the warmer host.
      const order = round % 2 === 0 ? ['metrics', 'route'] : ['route', 'metrics'];
      for (const name of order) {
        const { port, pid } = proxies[name];
        const before = await cpuTicks(pid);
        const { stdout } = await run('wrk', ['-t2', '-c64', '-d', DURATION, `http://127.0.0.1:${port}/`]);
        const after = await cpuTicks(pid);
        const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
        if (!(requests > 0) || /Non-2xx/.test(stdout)) throw new Error(`wrk failed:\n${stdout}`);
        results[name].rps.push(rps);
        results[name].cpuUs.push(((after - before) * TICK_US) / requests);
        rates[name] = rps;
      }
      ratios.push(rates.route / rates.metrics);
    }
    const table = parseRouteLatencyTable(
      await proxies.route.api.command(`show table ${ROUTE_LATENCY_TABLE}`),
    );
    const counted = [...table.values()].reduce((sum, n) => sum + n, 0);
    if (counted === 0) throw new Error('the route-latency table counted nothing');
    console.log(
      `# npm run bench -- route-latency, ${new Date().toISOString().slice(0, 16)}Z, load average ${await load}, ${ROUNDS} interleaved rounds of wrk -t2 -c64 -d${DURATION}, HAProxy nbthread 1, medians`,
    );
    for (const [name, result] of Object.entries(results)) {
      console.log(`route_latency_${name}_rps=${Math.round(median(result.rps))}`);
      console.log(`route_latency_${name}_haproxy_cpu_us_per_request=${median(result.cpuUs).toFixed(1)}`);
    }
    console.log(`route_latency_rps_ratio_route_vs_metrics=${median(ratios).toFixed(3)}`);
    console.log(`route_latency_table_entries=${table.size}`);
    // Instructions do not depend on the host's load as times do.
    if (process.env.INSTRUCTIONS !== '0') {
      for (const child of children.splice(1)) child.kill('SIGTERM');
      const perRequest: Record<string, number> = {};
      for (const name of Object.keys(variants)) {
        const counts: number[] = [];
        for (const requests of [1000, 5000]) {
          const port = await freePort();
          const file = join(dir, `${name}-${requests}.cfg`);
          await writeFile(file, configOf(name, port, join(dir, `${name}-${requests}.sock`)));
          counts.push(await instructionsFor(file, port, requests, join(dir, `${name}-${requests}.cg`)));
        }
        perRequest[name] = (counts[1] - counts[0]) / 4000;
        console.log(`route_latency_${name}_haproxy_instructions_per_request=${Math.round(perRequest[name])}`);
      }
      console.log(
        `route_latency_added_instructions_per_request=${Math.round(perRequest.route - perRequest.metrics)}`,
      );
    }
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

/** HAProxy's user-space instructions (valgrind callgrind) to start, answer `requests` requests and stop. */
async function instructionsFor(config: string, port: number, requests: number, out: string): Promise<number> {
  const child = spawn(
    'valgrind',
    ['--tool=callgrind', `--callgrind-out-file=${out}`, 'haproxy', '-db', '-f', config],
    { stdio: 'ignore' },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    for (let tries = 0; ; tries++) {
      try {
        await fetch(`http://127.0.0.1:${port}/`);
        break;
      } catch (error) {
        if (tries > 300) throw error;
        await sleep(100);
      }
    }
    await run('h2load', ['--h1', '-n', String(requests), '-c', '4', '-t', '1', `http://127.0.0.1:${port}/`]);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const totals = /^(?:summary|totals): (\d+)/m.exec(await readFile(out, 'utf8'));
  if (!totals) throw new Error(`no totals in ${out}`);
  return Number(totals[1]);
}

async function loadAverage(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

await main();
