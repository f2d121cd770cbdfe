import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AutoscaleConfig, AutoscaleDecision, DemandRecord } from '../model/mod.ts';
import { emptyDemand, mergeDemand, type RegionDemand, type RttMatrix, rttMatrix } from './demand.ts';
import { noteBusy, type PlannedMachine, planAutoscale } from './planner.ts';

const config: AutoscaleConfig = {
  min_machines: 1,
  max_machines: 4,
  regions: ['iad', 'fra', 'syd'],
  target_concurrency: 10,
  scale_up_step: 1,
  scale_down_step: 1,
  cooldown: 60_000,
};

const rtt: RttMatrix = rttMatrix([
  { host: 'iad-1', region: 'iad', rtt_ms: { 'fra-1': 80, 'syd-1': 200 } },
  { host: 'fra-1', region: 'fra', rtt_ms: { 'syd-1': 250 } },
  { host: 'syd-1', region: 'syd', rtt_ms: {} },
] as never);

/**
 * Demand entering `city` at `rps`, served by its own machines when it has some, else by the
 * nearest region that has one, as the proxies route it.
 */
function demandFrom(
  city: string | undefined,
  rps: number,
  machines: PlannedMachine[],
): Map<string, RegionDemand> {
  const demand = new Map<string, RegionDemand>();
  if (city === undefined) return demand;
  const regions = [...new Set(machines.map((machine) => machine.region))];
  const served = regions.includes(city)
    ? city
    : regions.sort((a, b) => (rtt.get(city)?.get(a) ?? 999) - (rtt.get(city)?.get(b) ?? 999))[0];
  const far = served !== city;
  const farRtt = far ? (rtt.get(city)?.get(served) ?? 0) : 0;
  demand.set(city, {
    ...emptyDemand(),
    enteredRps: rps,
    enteredConcurrency: rps / 2,
    farRps: far ? rps : 0,
    farConcurrency: far ? rps / 2 : 0,
    farRttMs: farRtt,
    ...(far ? { farServedIn: served } : {}),
  });
  const load = demand.get(served) ?? emptyDemand();
  demand.set(served, {
    ...load,
    loadRps: load.loadRps + rps,
    loadConcurrency: load.loadConcurrency + rps / 2,
  });
  return demand;
}

/** Runs the planner every 5 s over `phases` (city, rps, until ms), applying what it decides. */
function simulate(phases: { city?: string; rps: number; until: number }[]) {
  let machines: PlannedMachine[] = [{ id: 'm0', region: 'iad', state: 'started', createdAt: 0 }];
  const decisions: AutoscaleDecision[] = [];
  const lastBusy = new Map<string, number>([['iad', 0]]);
  const history: { at: number; regions: string[] }[] = [];
  let next = 1;
  for (let now = 5_000; now <= phases[phases.length - 1].until; now += 5_000) {
    const phase = phases.find((candidate) => now <= candidate.until) ?? phases[phases.length - 1];
    const demand = demandFrom(phase.city, phase.rps, machines);
    noteBusy(lastBusy, demand, now);
    const planned = planAutoscale({
      config,
      machines,
      demand,
      rtt,
      liveRegions: ['iad', 'fra', 'syd'],
      primaryRegion: 'iad',
      decisions,
      lastBusy,
      now,
    });
    for (const decision of planned) {
      if (decision.action === 'hold') continue;
      const at = new Date(now).toISOString();
      if (decision.action === 'add') {
        for (let index = 0; index < decision.count; index++)
          machines.push({ id: `m${next++}`, region: decision.region, state: 'started', createdAt: now });
      } else {
        machines = machines.filter((machine) => !decision.remove?.includes(machine.id));
      }
      decisions.push({ ...decision, at });
    }
    assert.ok(machines.length <= config.max_machines && machines.length >= config.min_machines);
    history.push({ at: now, regions: machines.map((machine) => machine.region).sort() });
  }
  return { machines, decisions, history };
}

/** No region changes direction (add then remove, or remove then add) within the cooldown. */
function assertNoFlap(decisions: AutoscaleDecision[]) {
  for (const [index, decision] of decisions.entries()) {
    const previous = decisions
      .slice(0, index)
      .findLast((earlier) => earlier.region === decision.region && earlier.action !== 'hold');
    if (previous === undefined) continue;
    const gap = Date.parse(decision.at) - Date.parse(previous.at);
    assert.ok(
      gap >= config.cooldown,
      `${decision.region}: ${previous.action} then ${decision.action} ${gap} ms apart`,
    );
  }
}

test('the machine set follows load from syd, then fra, then none, without oscillating', () => {
  const { machines, decisions, history } = simulate([
    { city: 'syd', rps: 10, until: 120_000 },
    { city: 'fra', rps: 10, until: 300_000 },
    { rps: 0, until: 600_000 },
  ]);
  const summary = decisions.map((decision) => `${decision.action} ${decision.region}`);
  assert.deepEqual(summary, ['add syd', 'add fra', 'remove syd', 'remove fra']);
  // syd's machine comes at the first look; fra's at the first look after syd's load left.
  assert.equal(decisions[0].at, new Date(5_000).toISOString());
  assert.equal(decisions[1].at, new Date(125_000).toISOString());
  assert.deepEqual(decisions[0].figures.far_rtt_ms, 200);
  assert.match(decisions[0].reason, /100% of syd's requests were served in iad at 200 ms/);
  assert.ok(
    Date.parse(decisions[2].at) >= 120_000 + config.cooldown,
    'syd kept while idle for less than cooldown',
  );
  assert.deepEqual(
    machines.map((machine) => machine.region),
    ['iad'],
  );
  assertNoFlap(decisions);
  // While fra is loaded the set is stable: iad, fra (and syd until idle long enough).
  assert.deepEqual(history.find((step) => step.at === 295_000)?.regions, ['fra', 'iad']);
});

test('load that comes and goes within the cooldown never removes what it added', () => {
  const phases = [];
  for (let start = 0; start < 600_000; start += 40_000) {
    phases.push({ city: 'syd', rps: 10, until: start + 20_000 }, { rps: 0, until: start + 40_000 });
  }
  const { decisions } = simulate(phases);
  assert.deepEqual(
    decisions.map((decision) => `${decision.action} ${decision.region}`),
    ['add syd'],
  );
});

test('concurrency over target adds in the loaded region, up to max_machines, then holds', () => {
  const machines: PlannedMachine[] = [{ id: 'm0', region: 'iad', state: 'started', createdAt: 0 }];
  const demand = new Map([
    ['iad', { ...emptyDemand(), enteredRps: 100, enteredConcurrency: 35, loadRps: 100, loadConcurrency: 35 }],
  ]);
  const input = {
    config: { ...config, scale_up_step: 5 },
    machines,
    demand,
    rtt,
    liveRegions: [],
    primaryRegion: 'syd',
    decisions: [],
    lastBusy: new Map(),
    now: 100_000,
  };
  const [add] = planAutoscale(input);
  assert.equal(add.action, 'add');
  assert.equal(add.count, 3);
  assert.equal(add.figures.per_machine, 35);
  const full = [0, 1, 2, 3].map((index) => ({ ...machines[0], id: `m${index}` }));
  const [hold] = planAutoscale({
    ...input,
    machines: full,
    demand: new Map([['iad', { ...(demand.get('iad') as RegionDemand), loadConcurrency: 80 }]]),
  });
  assert.equal(hold.action, 'hold');
  assert.match(hold.reason, /max_machines \(4\)/);
  assert.equal(hold.blocked_by, 'max_machines');
});

test('a region not allowed sends its demand to the allowed region nearest to it', () => {
  const machines: PlannedMachine[] = [{ id: 'm0', region: 'syd', state: 'started', createdAt: 0 }];
  const demand = new Map([
    [
      'fra',
      {
        ...emptyDemand(),
        enteredRps: 5,
        enteredConcurrency: 2,
        farRps: 5,
        farConcurrency: 2,
        farRttMs: 250,
        farServedIn: 'syd',
      },
    ],
  ]);
  const [add] = planAutoscale({
    config: { ...config, regions: ['iad', 'syd'] },
    machines,
    demand,
    rtt,
    liveRegions: [],
    primaryRegion: 'syd',
    decisions: [],
    lastBusy: new Map(),
    now: 100_000,
  });
  assert.equal(add.region, 'iad');
  assert.match(add.reason, /iad, the allowed region nearest to fra/);
});

test('mergeDemand: what arrived through the backhaul is not counted twice', () => {
  const at = new Date(10_000).toISOString();
  const records: DemandRecord[] = [
    {
      app: 'a',
      host: 'syd-1',
      region: 'syd',
      at,
      interval_ms: 2_000,
      served: { iad: { requests: 20, concurrency: 4, rtt_ms: 200 } },
    },
    {
      app: 'a',
      host: 'iad-1',
      region: 'iad',
      at,
      interval_ms: 2_000,
      served: { iad: { requests: 30, concurrency: 5, rtt_ms: 0 } },
    },
    {
      app: 'a',
      host: 'fra-1',
      region: 'fra',
      at: new Date(0).toISOString(),
      interval_ms: 2_000,
      served: { iad: { requests: 99, concurrency: 9, rtt_ms: 80 } },
    },
  ];
  const demand = mergeDemand(records, 10_500);
  assert.deepEqual(demand.get('syd'), {
    ...emptyDemand(),
    enteredRps: 10,
    enteredConcurrency: 4,
    farRps: 10,
    farConcurrency: 4,
    farRttMs: 200,
    farServedIn: 'iad',
  });
  assert.deepEqual(demand.get('iad'), {
    ...emptyDemand(),
    enteredRps: 5,
    enteredConcurrency: 1,
    loadRps: 15,
    loadConcurrency: 5,
  });
  assert.equal(demand.has('fra'), false, 'a stale record is ignored');
});
