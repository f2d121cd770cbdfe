/**
 * Autoscaling by location, end to end, in a world of iad, fra and syd with clients in syd and fra:
 * the hello app deployed in iad only, with `[autoscale]` and a short cooldown. Load from syd gets
 * a machine added in syd and syd's requests answered there; the load moving to fra gets one in
 * fra, and syd's, idle for a cooldown, is destroyed; no load brings the app back to its one
 * machine in iad. The machine set, sampled all along, never grows and shrinks in a region within
 * the cooldown; every decision is explained by `nearby autoscale show` and is an app event.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AutoscaleView } from '../src/api/routes/autoscale.ts';
import { eventually } from './helpers/nearby.ts';
import { type CityLoad, cityLoad, startWorld, type World } from './helpers/world.ts';

const COOLDOWN_S = 20;
const toml = `app = "shop"
primary_region = "iad"
[http_service]
  internal_port = 8080
  auto_stop_machines = "off"
[autoscale]
  min_machines = 1
  max_machines = 3
  regions = ["iad", "fra", "syd"]
  target_concurrency = 20
  cooldown = "${COOLDOWN_S}s"
`;

describe('autoscaling by location in a world of iad, fra and syd', { concurrency: false }, () => {
  let world: World;
  /** The machine set by region, sampled every second while the test runs. */
  const history: { at: number; regions: Record<string, number> }[] = [];
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  const loads: CityLoad[] = [];

  const machines = async () =>
    JSON.parse((await world.cli(['machine', 'list', '-a', 'shop', '--json'])).stdout) as {
      id: string;
      region: string;
      state: string;
    }[];
  const show = async () =>
    JSON.parse((await world.cli(['autoscale', 'show', '-a', 'shop', '--json'])).stdout) as AutoscaleView;
  const byRegion = (list: { region: string }[]) => {
    const counts: Record<string, number> = {};
    for (const machine of list) counts[machine.region] = (counts[machine.region] ?? 0) + 1;
    return counts;
  };
  /** Waits until the load's latest requests were answered from `region`. */
  const servedIn = (load: CityLoad, region: string, what: string) =>
    eventually(
      async () => {
        const last = load.requests.slice(-3);
        return last.length === 3 &&
          last.every((request) => request.status === 200 && request.region === region)
          ? true
          : undefined;
      },
      180_000,
      what,
    );

  before(async () => {
    world = await startWorld(['iad', 'fra', 'syd'], ['syd', 'fra']);
    const image = await world.pushHello();
    await world.cli(['apps', 'create', 'shop']);
    await world.deploy(toml, image, '--no-ha');
    sampler = (async () => {
      while (sampling) {
        const list = await machines().catch(() => undefined);
        if (list !== undefined) history.push({ at: Date.now(), regions: byRegion(list) });
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    })();
  });
  after(async () => {
    sampling = false;
    await Promise.all(loads.map((load) => load.stop()));
    await sampler;
    await world?.down();
  });

  test('deployed in iad only, with [autoscale] recorded', async () => {
    assert.deepEqual(byRegion(await machines()), { iad: 1 });
    const view = await show();
    assert.equal(view.config?.cooldown, COOLDOWN_S * 1000);
    assert.deepEqual(view.config?.regions, ['iad', 'fra', 'syd']);
  });

  test('load from syd adds a machine in syd, and syd is then answered from syd', async () => {
    const load = cityLoad(world, 'syd', 'shop');
    loads.push(load);
    await servedIn(load, 'syd', 'syd answered from syd');
    await load.stop();
    const first = load.requests.find((request) => request.status === 200);
    assert.equal(first?.region, 'iad', 'before: syd was answered from iad');
    // The decision is written once its machine is created: on a slow store it may land after.
    const added = await eventually(
      async () =>
        (await show()).decisions.find((decision) => decision.action === 'add' && decision.region === 'syd'),
      60_000,
      'the decision to add in syd',
    );
    assert.match(added.reason, /of syd's requests were served in iad at \d+ ms/);
    assert.ok(Number(added.figures.far_rtt_ms) >= 100, JSON.stringify(added.figures));
    assert.equal(added.machines?.length, 1);
  });

  test('load moving to fra adds a machine in fra; syd, idle for a cooldown, loses its machine', async () => {
    const load = cityLoad(world, 'fra', 'shop');
    loads.push(load);
    await servedIn(load, 'fra', 'fra answered from fra');
    await eventually(
      async () => ((await machines()).some((machine) => machine.region === 'syd') ? undefined : true),
      180_000,
      "syd's machine removed",
    );
    await load.stop();
    assert.deepEqual(byRegion(await machines()), { fra: 1, iad: 1 });
  });

  test('no load: back to min_machines, the one in iad', async () => {
    await eventually(
      async () => {
        const list = await machines();
        return list.length === 1 && list[0].region === 'iad' ? true : undefined;
      },
      180_000,
      'back to iad only',
    );
  });

  test('the machine set never flapped, and every decision is explained and an event', async () => {
    // In each region, a change of direction (up then down, or down then up) is a cooldown apart at least.
    for (const region of ['iad', 'fra', 'syd']) {
      let last: { at: number; direction: number } | undefined;
      for (const [index, sample] of history.entries()) {
        if (index === 0) continue;
        const change = (sample.regions[region] ?? 0) - (history[index - 1].regions[region] ?? 0);
        if (change === 0) continue;
        const direction = Math.sign(change);
        if (last !== undefined && last.direction !== direction)
          assert.ok(
            sample.at - last.at >= (COOLDOWN_S - 2) * 1000,
            `${region}: ${last.direction > 0 ? 'added' : 'removed'} then ${direction > 0 ? 'added' : 'removed'} ${sample.at - last.at} ms apart`,
          );
        last = { at: sample.at, direction };
      }
    }
    const view = await show();
    const changes = view.decisions.filter((decision) => decision.action !== 'hold');
    // Per region, in order (syd's removal and fra's addition may come in either order).
    const inRegion = (region: string) =>
      changes.filter((decision) => decision.region === region).map((decision) => decision.action);
    assert.deepEqual(inRegion('syd'), ['add', 'remove'], JSON.stringify(changes));
    assert.deepEqual(inRegion('fra'), ['add', 'remove'], JSON.stringify(changes));
    assert.deepEqual(inRegion('iad'), [], 'the primary region keeps its machine');
    const text = (await world.cli(['autoscale', 'show', '-a', 'shop'])).stdout;
    assert.match(text, /Decisions \(newest last\):/);
    assert.match(text, /add 1 in syd .*served in iad/);
    assert.match(text, /remove 1 in fra .*served nothing for \d+ s/);
    const events = (await world.cli(['events', '-a', 'shop'])).stdout;
    assert.match(events, /autoscale machines_added: 1 machine added in syd/);
    assert.match(events, /autoscale machines_removed: 1 machine removed in fra/);
  });
});
