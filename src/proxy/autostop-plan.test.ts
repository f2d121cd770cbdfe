import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineRecord, MachineService, MachineStatus } from '../model/machine.ts';
import { planAutostart, planAutostop, planRegionalWake } from './autostop-plan.ts';
import type { MachineLoad } from './autostop-stats.ts';

const service = (extra: Partial<MachineService>): MachineService => ({
  protocol: 'tcp',
  internal_port: 8080,
  ports: [{ port: 80, handlers: ['http'] }],
  ...extra,
});

function machine(id: string, svc: MachineService, state = 'started', region = 'fra') {
  const record = {
    id,
    app: 'app',
    region,
    host: 'h',
    instance_id: 'v1',
    desired: { state: 'started', seq: 1 },
    config: { image: 'x', services: [svc], env: { PRIMARY_REGION: 'fra' } },
  } as unknown as MachineRecord;
  const status = { id, app: 'app', instance_id: 'v1', state, seq: 1 } as unknown as MachineStatus;
  return { record, status };
}

const plan = (
  machines: ReturnType<typeof machine>[],
  idle: Record<string, number>,
  sessions: Record<string, number> = {},
  region = 'fra',
) =>
  planAutostop({
    region,
    idleMs: 1000,
    machines,
    loads: new Map<string, MachineLoad>(
      machines.map(({ record }) => [record.id, { sessions: sessions[record.id] ?? 0, total: 0 }]),
    ),
    idleFor: (id) => idle[id],
  });

test('stops the machine idle the longest, one at a time, and suspends when asked to', () => {
  const stop = service({ autostop: 'stop' });
  assert.deepEqual(plan([machine('a', stop), machine('b', stop)], { a: 2000, b: 5000 }), {
    machine: 'b',
    suspend: false,
    idleMs: 5000,
  });
  const suspend = service({ autostop: 'suspend' });
  assert.equal(plan([machine('a', suspend)], { a: 2000 })?.suspend, true);
  assert.equal(plan([machine('a', service({ autostop: true }))], { a: 2000 })?.suspend, false);
});

test('leaves busy, recently used, autostop-off and already stopped machines alone', () => {
  const stop = service({ autostop: 'stop' });
  assert.equal(plan([machine('a', stop)], { a: 500 }), undefined, 'not idle long enough');
  assert.equal(plan([machine('a', stop)], { a: 5000 }, { a: 1 }), undefined, 'has a session');
  assert.equal(plan([machine('a', stop)], {}), undefined, 'not in HAProxy');
  assert.equal(plan([machine('a', service({ autostop: 'off' }))], { a: 5000 }), undefined);
  assert.equal(plan([machine('a', service({ autostop: false }))], { a: 5000 }), undefined);
  assert.equal(plan([machine('a', service({}))], { a: 5000 }), undefined, 'off unless asked');
  assert.equal(plan([machine('a', stop, 'stopped')], { a: 5000 }), undefined);
});

test('never goes below min_machines_running in the primary region', () => {
  const keepOne = service({ autostop: 'stop', min_machines_running: 1 });
  assert.equal(plan([machine('a', keepOne)], { a: 5000 }), undefined);
  assert.equal(plan([machine('a', keepOne), machine('b', keepOne)], { a: 5000, b: 5000 })?.machine, 'a');
  assert.equal(
    plan([machine('a', keepOne), machine('b', keepOne, 'stopped')], { a: 5000, b: 5000 }),
    undefined,
    'the only started one is kept',
  );
  // Elsewhere than the primary region the minimum does not hold.
  assert.equal(plan([machine('a', keepOne, 'started', 'syd')], { a: 5000 }, {}, 'syd')?.machine, 'a');
});

test('stops nothing while the machines that would be left are at their soft_limit', () => {
  const limited = service({ autostop: 'stop', concurrency: { soft_limit: 2, hard_limit: 4 } });
  const machines = [machine('a', limited), machine('b', limited)];
  assert.equal(plan(machines, { a: 5000, b: 0 }, { b: 2 }), undefined);
  assert.equal(plan(machines, { a: 5000, b: 0 }, { b: 1 })?.machine, 'a');
});

const loadsOf = (machines: ReturnType<typeof machine>[], sessions: Record<string, number>) =>
  new Map<string, MachineLoad>(
    machines.map(({ record }) => [record.id, { sessions: sessions[record.id] ?? 0, total: 0 }]),
  );

test('starts one more machine when every started one is at or over its soft_limit', () => {
  const limited = service({
    autostop: 'stop',
    concurrency: { type: 'connections', soft_limit: 2, hard_limit: 10 },
  });
  const machines = [machine('a', limited), machine('b', limited), machine('c', limited, 'stopped')];
  const wake = (sessions: Record<string, number>) =>
    planAutostart({ region: 'fra', machines, loads: loadsOf(machines, sessions) });
  assert.deepEqual(wake({ a: 2, b: 3 }), { machine: 'c' });
  assert.equal(wake({ a: 2, b: 1 }), undefined, 'b still has room');
});

test('no autostart for load without a soft_limit, at zero (the activator wakes), or with nothing to wake', () => {
  const unlimited = service({ autostop: 'stop' });
  const free = [machine('a', unlimited), machine('b', unlimited, 'stopped')];
  assert.equal(planAutostart({ region: 'fra', machines: free, loads: loadsOf(free, { a: 500 }) }), undefined);
  const limited = service({ autostop: 'stop', concurrency: { type: 'connections', soft_limit: 1 } });
  const zero = [machine('a', limited, 'stopped')];
  assert.equal(planAutostart({ region: 'fra', machines: zero, loads: loadsOf(zero, {}) }), undefined);
  const allUp = [machine('a', limited)];
  assert.equal(planAutostart({ region: 'fra', machines: allUp, loads: loadsOf(allUp, { a: 5 }) }), undefined);
});

/** A machine of a region on a given host (the region's decider sees every host's). */
function on(host: string, id: string, svc: MachineService, state = 'started', region = 'fra') {
  const entry = machine(id, svc, state, region);
  return { ...entry, record: { ...entry.record, host } as MachineRecord };
}

test("a region of several hosts: min_machines_running counts the whole region's machines, other regions' are not stopped", () => {
  const keepOne = service({ autostop: 'stop', min_machines_running: 1 });
  const machines = [
    on('fra-1', 'a', keepOne),
    on('fra-2', 'b', keepOne),
    on('syd-1', 'c', keepOne, 'started', 'syd'),
  ];
  const idle = { a: 3000, b: 5000, c: 9000 };
  // b idles longest in fra (c is syd's: its own region's decider sees to it).
  assert.equal(plan(machines, idle)?.machine, 'b');
  // b stopped: a is fra's last started machine and is kept, whichever host it is on.
  const afterB = [on('fra-1', 'a', keepOne), on('fra-2', 'b', keepOne, 'stopped'), machines[2]];
  assert.equal(plan(afterB, idle), undefined);
  // syd is not the primary region: its decider stops its last one.
  assert.equal(plan(machines, idle, {}, 'syd')?.machine, 'c');
});

test("a region's requests sent to another region wake one of its own, only when none of its own is started", () => {
  const stop = service({ autostop: 'stop' });
  const stopped = [
    on('fra-1', 'a', stop, 'stopped'),
    on('fra-2', 'b', stop, 'suspended'),
    on('syd-1', 'c', stop, 'started', 'syd'),
  ];
  assert.deepEqual(
    planRegionalWake({ region: 'fra', machines: stopped }),
    { machine: 'b' },
    'suspended first',
  );
  const oneUp = [on('fra-1', 'a', stop), ...stopped.slice(1)];
  assert.equal(planRegionalWake({ region: 'fra', machines: oneUp }), undefined);
  assert.equal(planRegionalWake({ region: 'ams', machines: stopped }), undefined, 'no machine there');
  const noAutostart = [on('fra-1', 'a', service({ autostop: 'stop', autostart: false }), 'stopped')];
  assert.equal(planRegionalWake({ region: 'fra', machines: noAutostart }), undefined);
});
