import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reportedStatus } from '../../test/helpers/machine-status.ts';
import { keys } from '../model/keys.ts';
import type { AppRecord, MachineRecord, MachineStatus } from '../model/mod.ts';
import { changedApps, mergeRoutes, sameStructure, scopeRoutes } from './route-scope.ts';
import { computeRoutes, type RouteInput, type RouteTable } from './routes.ts';
import { SlotTable } from './slots.ts';

const app = (name: string): AppRecord => ({ id: name, name, org_slug: 'o', network: 'n', created_at: '' });

/** A machine serving HTTP on `port` (80 outside), or raw TCP on `tcpPort` (same port outside). */
function machine(
  appName: string,
  id: string,
  serves: { port?: number; tcpPort?: number } = {},
): MachineRecord {
  const service =
    serves.tcpPort === undefined
      ? { protocol: 'tcp', internal_port: serves.port ?? 8080, ports: [{ port: 80, handlers: ['http'] }] }
      : { protocol: 'tcp', internal_port: serves.tcpPort, ports: [{ port: serves.tcpPort }] };
  return {
    id,
    name: id,
    app: appName,
    region: 'fra',
    host: 'h1',
    instance_id: 'i1',
    config: { image: 'hello', services: [service] },
    image_ref: { registry: 'r', repository: 'hello', tag: 'latest', digest: 'sha256:0' },
    desired: { state: 'started', seq: 1 },
    events: [],
    created_at: '',
    updated_at: '',
  } as MachineRecord;
}

function status(
  record: MachineRecord,
  ipv4: string,
  state: MachineStatus['state'] = 'started',
): [string, MachineStatus] {
  return [keys.machineStatus(record.host, record.id), reportedStatus(record, state, ipv4, '')];
}

/** Routes as the proxy computes them: all apps, or `only` these (an incremental pass). */
function routes(input: RouteInput, slots: SlotTable, only?: ReadonlySet<string>): RouteTable {
  const table = computeRoutes(
    only === undefined
      ? input
      : {
          ...input,
          apps: [...input.apps].filter((record) => only.has(record.name)),
          machines: [...input.machines].filter((record) => only.has(record.app)),
        },
  );
  slots.assign(table, only !== undefined);
  return table;
}

const base = () => {
  const machines = [
    machine('hello', 'm1'),
    machine('hello', 'm2'),
    machine('other', 'o1', { port: 9000 }),
    machine('tcp', 't1', { tcpPort: 5432 }),
  ];
  return {
    apps: [app('hello'), app('other'), app('tcp')],
    machines,
    statuses: new Map(machines.map((record, index) => status(record, `10.0.0.${index + 1}`))),
    appsDomain: 'apps.test',
  };
};

test('a machine started, stopped or moved keeps the structure; the merge equals the full table', () => {
  const input = base();
  const slots = new SlotTable();
  const before = routes(input, slots);
  // m2 stops, m3 starts at a new address, o1 moves.
  const m3 = machine('hello', 'm3');
  const changed: RouteInput = {
    ...input,
    machines: [...input.machines, m3],
    statuses: new Map([
      ...input.statuses,
      status(input.machines[1], '10.0.0.2', 'stopped'),
      status(m3, '10.0.0.9'),
      status(input.machines[2], '10.0.0.7'),
    ]),
  };
  const apps = new Set(['hello', 'other']);
  const partial = routes(changed, slots, apps);
  assert.equal(sameStructure(before, partial, apps), true);
  const merged = mergeRoutes(before, partial);
  // The full table, computed afterwards with the same slot table, is the same routes.
  assert.deepEqual(merged, routes(changed, slots));
  assert.deepEqual(
    merged.backends.find((backend) => backend.name === 'app_hello')?.servers.map((s) => [s.name, s.slot]),
    [
      ['m1', 'app_hello.1'],
      ['m3', 'app_hello.3'],
    ],
  );
});

test('a new app, a removed one, a grown slot pool or a new port change the structure', () => {
  const input = base();
  const slots = new SlotTable();
  const before = routes(input, slots);
  const fresh = machine('fresh', 'f1');
  const added = { ...input, apps: [...input.apps, app('fresh')], machines: [...input.machines, fresh] };
  assert.equal(
    sameStructure(before, routes(added, new SlotTable(), new Set(['fresh'])), new Set(['fresh'])),
    false,
  );

  const removed = { ...input, apps: input.apps.filter((record) => record.name !== 'other') };
  assert.equal(
    sameStructure(before, routes(removed, new SlotTable(), new Set(['other'])), new Set(['other'])),
    false,
  );

  const many = Array.from({ length: 9 }, (_, index) => machine('hello', `n${index}`));
  const grown = {
    ...input,
    machines: [...input.machines, ...many],
    statuses: new Map([...input.statuses, ...many.map((record, index) => status(record, `10.0.1.${index}`))]),
  };
  const hello = new Set(['hello']);
  assert.equal(sameStructure(before, routes(grown, new SlotTable(), hello), hello), false);

  const tcp = new Set(['tcp']);
  const t2 = machine('tcp', 't2', { tcpPort: 6543 });
  const newPort = { ...input, machines: [...input.machines, t2] };
  assert.equal(sameStructure(before, routes(newPort, new SlotTable(), tcp), tcp), false);
});

test('all routes computed again: the apps whose servers differ, each scoped as if computed alone', () => {
  const input = base();
  const slots = new SlotTable();
  const before = routes(input, slots);
  const moved: RouteInput = {
    ...input,
    statuses: new Map([...input.statuses, status(input.machines[2], '10.0.0.7')]),
  };
  const after = routes(moved, slots);
  assert.deepEqual(changedApps(before, after), new Set(['other']));
  assert.deepEqual(changedApps(before, before), new Set());
  const other = new Set(['other']);
  assert.deepEqual(scopeRoutes(after, other), routes(moved, slots, other));
  // A new app is a structure change: no scoped pass.
  const fresh = machine('fresh', 'f1');
  const added = { ...input, apps: [...input.apps, app('fresh')], machines: [...input.machines, fresh] };
  assert.equal(changedApps(before, routes(added, new SlotTable())), undefined);
});
