/**
 * `npm run bench -- world [--regions iad,fra,syd,sin] [--far syd] [--rounds 50]`: the proof of
 * issue 17. A world with a client in every region; the hello app deployed to the first region only,
 * every client measured (median of `--rounds` requests, a new connection each, HTTP to the app's
 * name as a user's curl sends it: the world's GeoDNS, then the proxies); the app scaled to every
 * region and measured again. Then a request from the far client for an app whose one machine is
 * stopped in the first region: a wake across the world. Prints the table and `name=value` lines.
 */
import { parseArgs } from 'node:util';
import { readRttMatrix } from '../src/world/mod.ts';
import { eventually } from '../test/helpers/nearby.ts';
import { startWorld, timeRequests, type World } from '../test/helpers/world.ts';
import { stats } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    regions: { type: 'string', default: 'iad,fra,syd,sin' },
    far: { type: 'string', default: 'syd' },
    rounds: { type: 'string', default: '50' },
  },
});
const regions = values.regions.split(',');
const [primary] = regions;
const far = values.far;
const rounds = Number(values.rounds);
if (!regions.includes(far)) throw new Error(`--far ${far} is not one of --regions ${values.regions}`);
const matrix = readRttMatrix();
const rtt = (a: string, b: string) => (a === b ? 0 : matrix.rtt(a, b).ms);
const round = (ms: number) => Math.round(ms * 10) / 10;
/** A new HTTP connection costs two round trips before the answer: the TCP handshake, then the request. */
const ROUND_TRIPS = 2;

const toml = (app: string, service: string) => `app = "${app}"
primary_region = "${primary}"
[http_service]
  internal_port = 8080
${service}`;

/** Who answered (`hello from <id> in <region>`), and the median of a client's requests. */
async function measure(world: World, city: string, app: string) {
  const { ms, answer } = await timeRequests(world, city, app, rounds);
  return { p50: stats(ms).p50, region: answer.trim().split(' ').pop() ?? '?' };
}

async function latency(world: World, image: string) {
  await world.cli(['apps', 'create', 'hello']);
  await world.deploy(toml('hello', '  auto_stop_machines = "off"\n'), image, '--no-ha');
  const before = new Map<string, Awaited<ReturnType<typeof measure>>>();
  for (const city of regions) before.set(city, await measure(world, city, 'hello'));

  await world.cli(['scale', 'count', String(regions.length), '--region', regions.join(','), '-a', 'hello']);
  for (const city of regions)
    await eventually(
      async () => ((await measure1(world, city)) === city ? true : undefined),
      120_000,
      `${city} answered from ${city}`,
    );
  const after = new Map<string, Awaited<ReturnType<typeof measure>>>();
  for (const city of regions) after.set(city, await measure(world, city, 'hello'));

  console.log(`\nmedian of ${rounds} requests, a new connection each (ms):`);
  console.log('client  before (answered by)  after (answered by)  matrix RTT to first region');
  for (const city of regions) {
    const b = before.get(city);
    const a = after.get(city);
    if (b === undefined || a === undefined) continue;
    console.log(
      `${city.padEnd(7)} ${String(round(b.p50)).padStart(8)} (${b.region})      ${String(round(a.p50)).padStart(8)} (${a.region})     ${rtt(city, primary)}`,
    );
  }
  const farBefore = before.get(far)?.p50 ?? Number.NaN;
  const farAfter = after.get(far)?.p50 ?? Number.NaN;
  // Every client is near after the scale: its overhead is what is left once the simulated
  // distance to the region that answered is taken away; the worst client is reported.
  const overheads = regions.map((city) => {
    const answer = after.get(city);
    return answer === undefined ? Number.NaN : answer.p50 - ROUND_TRIPS * rtt(city, answer.region);
  });
  console.log(`${far}_before_ms=${round(farBefore)}`);
  console.log(`${far}_after_ms=${round(farAfter)}`);
  console.log(`far_client_latency_reduction=${Math.round((1 - farAfter / farBefore) * 1000) / 1000}`);
  console.log(`near_client_overhead_ms=${round(Math.max(...overheads))}`);
  return farBefore;
}

/** One request's answering region (a 200 required). */
async function measure1(world: World, city: string) {
  const { answer } = await timeRequests(world, city, 'hello', 1);
  return answer.trim().split(' ').pop();
}

/**
 * An app whose one machine is stopped in the first region, asked for from the far client: the
 * far region's activator starts it through the API and forwards the held requests over the
 * backhaul. Three wakes, each after `machine stop`; several requests at once in each.
 */
async function crossRegionWake(world: World, image: string, warmMs: number) {
  await world.cli(['apps', 'create', 'sleepy']);
  const service = '  auto_stop_machines = "stop"\n  auto_start_machines = true\n  min_machines_running = 0\n';
  await world.deploy(toml('sleepy', service), image, '--no-ha');
  const [machine] = JSON.parse((await world.cli(['machine', 'list', '--json', '-a', 'sleepy'])).stdout) as {
    id: string;
  }[];
  const wakes: number[] = [];
  for (let i = 0; i < 3; i++) {
    await world.cli(['machine', 'stop', machine.id, '-a', 'sleepy']);
    // The far proxy's routes follow the stop within its sync; give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const { ms, answer } = await timeRequests(world, far, 'sleepy', 1);
    if (!answer.includes(`in ${primary}`)) throw new Error(`woken request answered by ${answer}`);
    wakes.push(ms[0]);
  }
  console.log(`cross_region_wakes_ms=${wakes.map(round).join(',')}`);
  console.log(`cross_region_wake_ms=${round(stats(wakes).p50)}`);
  console.log(`cross_region_wake_extra_ms=${round(stats(wakes).p50 - warmMs)}`);
}

const started = performance.now();
const world = await startWorld(regions, regions);
try {
  console.log(`world_up_s=${round((performance.now() - started) / 1000)}`);
  const image = await world.pushHello();
  const farWarm = await latency(world, image);
  // A failed wake still leaves the latency figures above printed.
  await crossRegionWake(world, image, farWarm).catch((error: unknown) =>
    console.log(`cross_region_wake_error=${JSON.stringify(String(error).split('\n')[0])}`),
  );
  // Further figures of this same world go here, each a step of (world) printing its own
  // `name=value` lines: the Anycast failover (`anycast_failover_ms=`), the WireGuard hop's cost.
} finally {
  await world.down();
}
