/**
 * `npm run bench -- autoscale [--after 30]`: autoscaling by location in a world of iad and syd
 * with a client in syd. The hello app is deployed in iad only, with `[autoscale]`; a steady load
 * from syd (curl, a new connection per request) starts, and the autoscaler adds a machine in syd.
 * Prints how long from the start of the load until syd's requests are answered from syd
 * (`autoscale_time_to_local_s`), and the syd client's median latency before against after
 * (`autoscale_far_latency_reduction` = 1 - after/before), with the decision's figures.
 */
import { parseArgs } from 'node:util';
import type { AutoscaleView } from '../src/api/routes/autoscale.ts';
import { eventually } from '../test/helpers/nearby.ts';
import { cityLoad, startWorld } from '../test/helpers/world.ts';
import { stats } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    /** Seconds of load measured once syd is served from syd. */
    after: { type: 'string', default: '30' },
  },
});
const afterMs = Number(values.after) * 1000;
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

const toml = `app = "shop"
primary_region = "iad"
[http_service]
  internal_port = 8080
  auto_stop_machines = "off"
[autoscale]
  min_machines = 1
  max_machines = 2
  regions = ["iad", "syd"]
`;

const started = performance.now();
const world = await startWorld(['iad', 'syd'], ['syd']);
try {
  console.log(`world_up_s=${round((performance.now() - started) / 1000)}`);
  const image = await world.pushHello();
  await world.cli(['apps', 'create', 'shop']);
  await world.deploy(toml, image, '--no-ha');
  const loadStart = Date.now();
  const load = cityLoad(world, 'syd', 'shop');
  /** The first request of the streak answered from syd that lasts until the end of the run. */
  const localSince = () => {
    const { requests } = load;
    let index = requests.length;
    while (index > 0 && requests[index - 1].status === 200 && requests[index - 1].region === 'syd') index--;
    return index < requests.length && requests.length - index >= 5 ? requests[index] : undefined;
  };
  const first = await eventually(async () => localSince(), 600_000, 'syd answered from syd');
  await new Promise((resolve) => setTimeout(resolve, afterMs));
  const requests = await load.stop();
  const local = localSince() ?? first;
  const before = requests.filter((request) => request.at < local.at && request.status === 200);
  const after = requests.filter((request) => request.at >= local.at && request.region === 'syd');
  const failed = requests.filter((request) => request.status !== 200).length;
  const beforeMs = stats(before.map((request) => request.ms)).p50;
  const afterP50 = stats(after.map((request) => request.ms)).p50;
  const view = JSON.parse(
    (await world.cli(['autoscale', 'show', '-a', 'shop', '--json'])).stdout,
  ) as AutoscaleView;
  const decision = view.decisions.find(
    (candidate) => candidate.action === 'add' && candidate.region === 'syd',
  );
  if (decision)
    console.log(
      `decision: +${decision.count} in syd ${round((Date.parse(decision.at) - loadStart) / 1000)} s after the load started: ${decision.reason}`,
    );
  console.log(
    `requests: ${before.length} answered from ${before[0]?.region ?? '?'} before, ${after.length} from syd after, ${failed} failed`,
  );
  console.log(
    `autoscale_decision_s=${decision ? round((Date.parse(decision.at) - loadStart) / 1000) : 'NaN'}`,
  );
  console.log(`syd_before_ms=${round(beforeMs)}`);
  console.log(`syd_after_ms=${round(afterP50)}`);
  console.log(`autoscale_time_to_local_s=${round((local.at - loadStart) / 1000)}`);
  console.log(`autoscale_far_latency_reduction=${round(1 - afterP50 / beforeMs, 3)}`);
} finally {
  await world.down();
}
