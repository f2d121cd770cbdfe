import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineRecord, MachineStatus } from '../model/machine.ts';
import type { MachineEntry } from './activator.ts';
import type { Location } from './placement.ts';
import type { WantedBackend } from './routes.ts';
import { WakeTimes } from './wake-times.ts';
import { holdForNearWake, warmFarOrColdNear } from './warm-or-cold.ts';

test('a far region nearer than the wake keeps the request warm far', () => {
  assert.equal(warmFarOrColdNear({ farRttMs: 18, nearWakeMs: 45, nearRttMs: 0 }), 'warm-far');
});

test('a wake sooner than the far round trip holds the request cold near', () => {
  assert.equal(warmFarOrColdNear({ farRttMs: 201, nearWakeMs: 45, nearRttMs: 0.4 }), 'cold-near');
});

test('an unmeasured wake or an unprobed far region stays warm far', () => {
  assert.equal(warmFarOrColdNear({ farRttMs: 201 }), 'warm-far');
  assert.equal(warmFarOrColdNear({ nearWakeMs: 1 }), 'warm-far');
});

test('the wake time is a moving median of the last wakes, failures counted as the timeout', () => {
  const times = new WakeTimes();
  assert.equal(times.medianMs('a'), undefined);
  for (const ms of [40, 10_000, 50]) times.record('a', ms);
  assert.equal(times.medianMs('a'), 50);
  for (let i = 0; i < 7; i++) times.record('a', 30);
  assert.equal(times.medianMs('a'), 30, 'old wakes leave the window');
});

function entry(id: string, host: string, state: MachineStatus['state'], desired = state): MachineEntry {
  const record = {
    id,
    app: 'shop',
    host,
    region: host.slice(0, 3),
    instance_id: 'v1',
    desired: { state: desired, seq: 2 },
    config: {
      image: 'x',
      services: [
        { protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }], autostop: 'stop' },
      ],
    },
  } as unknown as MachineRecord;
  return { record, status: { id, instance_id: 'v1', state, ipv4: '10.0.0.2' } as unknown as MachineStatus };
}

// From syd-1: its own stopped machine, and iad's started one 201 ms away.
const machines = [entry('near', 'syd-1', 'stopped'), entry('far', 'iad-1', 'started')];
const locations: Record<string, Location> = {
  'syd-1': { tier: 0, rttMs: 0 },
  'iad-1': { tier: 2, via: { host: '10.0.1.10', port: 4443 }, rttMs: 201 },
};
/** The app's HTTP backend (this host's machines: none started) and its far twin (iad's machine). */
const backends = (): WantedBackend[] => {
  const base = { app: 'shop', mode: 'http' as const, checks: [], forceHttps: false, slotOptions: [] };
  return [
    { ...base, name: 'app_shop', servers: [], backup: { host: '127.0.0.1', port: 9000, enabled: true } },
    {
      ...base,
      name: 'app_shop_far',
      servers: [{ name: 'far', address: '10.0.1.10', port: 4443, options: [], backhaul: true }],
      far: { of: 'app_shop', byHost: true },
    },
  ];
};
const input = (wakeMs: number | undefined) => ({
  machinesOf: () => machines,
  locate: (record: MachineRecord) => locations[record.host],
  wakeMs: () => wakeMs,
});

test('cold near: the backend and its far twin are emptied so the activator wakes the near machine and holds the request', () => {
  const routes = backends();
  assert.deepEqual(holdForNearWake(routes, input(60)), ['shop']);
  assert.deepEqual(
    routes.map((backend) => backend.servers),
    [[], []],
  );
});

test('warm far: a wake slower than the far round trip, or never measured, keeps the far machine', () => {
  for (const wakeMs of [450, undefined]) {
    const routes = backends();
    assert.deepEqual(holdForNearWake(routes, input(wakeMs)), []);
    assert.deepEqual(
      routes[1].servers.map((server) => server.name),
      ['far'],
    );
  }
});

test('nothing changes when the near machines are started, or the app cannot be woken', () => {
  const started = [entry('near', 'syd-1', 'started'), entry('far', 'iad-1', 'started')];
  const routes = backends();
  assert.deepEqual(holdForNearWake(routes, { ...input(1), machinesOf: () => started }), []);
  assert.equal(routes[1].servers.length, 1);
  const off = backends();
  off[0].backup = { host: '127.0.0.1', port: 9000, enabled: false };
  assert.deepEqual(holdForNearWake(off, input(1)), []);
});
