import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineRecord, MachineService, MachineStatus } from '../model/machine.ts';
import { autostartOn, pickWakeCandidate, wakeableApps } from './activator-pick.ts';

const http = (extra: Partial<MachineService> = {}): MachineService => ({
  protocol: 'tcp',
  internal_port: 8080,
  ports: [{ port: 80, handlers: ['http'] }],
  autostop: 'stop',
  ...extra,
});

function entry(id: string, state: MachineStatus['state'] | undefined, svc = http(), desired = 'started') {
  const record = {
    id,
    app: 'app',
    region: 'fra',
    instance_id: 'v1',
    desired: { state: desired, seq: 2 },
    config: { image: 'x', services: [svc] },
  } as unknown as MachineRecord;
  const status =
    state === undefined
      ? undefined
      : ({ id, instance_id: 'v1', state, ipv4: '10.0.0.2' } as unknown as MachineStatus);
  return { record, status };
}

test('prefers a started machine, then a suspended one, then a stopped one', () => {
  const stopped = entry('a', 'stopped', http(), 'stopped');
  const suspended = entry('b', 'suspended', http(), 'suspended');
  const started = entry('c', 'started');
  assert.equal(pickWakeCandidate([stopped, suspended, started])?.record.id, 'c');
  assert.equal(pickWakeCandidate([stopped, started])?.needsStart, false);
  const pick = pickWakeCandidate([stopped, suspended]);
  assert.equal(pick?.record.id, 'b');
  assert.equal(pick?.needsStart, true);
  assert.equal(pick?.port, 8080);
  assert.equal(pickWakeCandidate([stopped])?.record.id, 'a');
});

test('skips machines it may not start: autostart off, cordoned, destroyed, without HTTP service', () => {
  assert.equal(pickWakeCandidate([entry('a', 'stopped', http({ autostart: false }), 'stopped')]), undefined);
  const cordoned = entry('b', 'stopped', http(), 'stopped');
  cordoned.record.cordoned = true;
  assert.equal(pickWakeCandidate([cordoned]), undefined);
  assert.equal(pickWakeCandidate([entry('c', 'stopped', http(), 'destroyed')]), undefined);
  const tcpOnly = http({ ports: [{ port: 5432 }] });
  assert.equal(pickWakeCandidate([entry('d', 'stopped', tcpOnly, 'stopped')]), undefined);
});

test('autostart: explicit wins; unset follows autostop, so an app that sleeps always wakes', () => {
  assert.equal(autostartOn(http({ autostart: true, autostop: 'off' })), true);
  assert.equal(autostartOn(http({ autostart: false })), false);
  assert.equal(autostartOn(http({ autostop: 'suspend' })), true);
  assert.equal(autostartOn(http({ autostop: undefined })), false);
  assert.deepEqual([...wakeableApps([entry('a', 'stopped').record])], ['app']);
  assert.deepEqual([...wakeableApps([entry('a', 'stopped', http({ autostop: 'off' })).record])], []);
});

test('across hosts: the nearest tier first, then the state order; unreachable machines never', () => {
  const onHost = (host: string, id: string, state: MachineStatus['state'], desired = 'stopped') => {
    const made = entry(id, state, http(), desired);
    return { ...made, record: { ...made.record, host } as MachineRecord };
  };
  const tiers: Record<string, number | undefined> = { here: 0, 'fra-2': 1, syd: 2, dead: undefined };
  const tierOf = (record: MachineRecord) => tiers[record.host];
  const machines = [
    onHost('syd', 'a', 'suspended', 'suspended'),
    onHost('fra-2', 'b', 'stopped'),
    onHost('here', 'c', 'stopped'),
    onHost('dead', 'd', 'started', 'started'),
  ];
  const pick = pickWakeCandidate(machines, tierOf);
  assert.equal(
    pick?.record.id,
    'c',
    "this host's stopped machine before the region's and a suspended one far off",
  );
  assert.equal(pick?.tier, 0);
  assert.equal(pickWakeCandidate(machines.slice(0, 2), tierOf)?.record.id, 'b', "then this region's");
  const far = pickWakeCandidate([machines[0], machines[3]], tierOf);
  assert.equal(far?.record.id, 'a', 'then the nearest region; a dead host is skipped though started');
  assert.equal(far?.tier, 2);
  assert.equal(pickWakeCandidate([machines[3]], tierOf), undefined);
});
