import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteTable } from './routes.ts';
import type { ServerState } from './runtime-api.ts';
import { planSync } from './sync.ts';

const server = (backend: string, name: string, address: string, adminState = 0): ServerState => ({
  backend,
  name,
  address,
  port: 8080,
  opState: 2,
  adminState,
});

const wanted: RouteTable = {
  backends: [
    {
      app: 'hello',
      name: 'app_hello',
      servers: [
        { name: 'm1', address: '10.0.0.1', port: 8080 },
        { name: 'm2', address: '10.0.0.2', port: 8080 },
        { name: 'm3', address: '10.0.0.3', port: 8080 },
      ],
    },
  ],
  hosts: new Map([['hello.localhost', 'app_hello']]),
  skipped: [],
};

test('same backends: servers and hosts are patched, new ones before removals, no reload', () => {
  const plan = planSync(wanted, {
    backends: ['nearby_no_app', 'app_hello'],
    servers: [
      server('app_hello', 'm1', '10.0.0.1'),
      server('app_hello', 'm2', '10.0.0.9', 0x01),
      server('app_hello', 'old', '10.0.0.4'),
      server('app_hello', 'gone', '10.0.0.5', 0x01),
    ],
    hosts: new Map([['stale.localhost', 'app_stale']]),
  });
  assert.equal(plan.reload, false);
  assert.deepEqual(plan.ops, [
    { kind: 'set-address', backend: 'app_hello', server: { name: 'm2', address: '10.0.0.2', port: 8080 } },
    { kind: 'ready', backend: 'app_hello', server: 'm2' },
    { kind: 'add-server', backend: 'app_hello', server: { name: 'm3', address: '10.0.0.3', port: 8080 } },
    { kind: 'set-host', host: 'hello.localhost', backend: 'app_hello', exists: false },
    { kind: 'remove-server', backend: 'app_hello', server: 'old', inMaintenance: false },
    { kind: 'remove-server', backend: 'app_hello', server: 'gone', inMaintenance: true },
    { kind: 'delete-host', host: 'stale.localhost' },
  ]);
});

test('in sync: nothing to do', () => {
  const plan = planSync(wanted, {
    backends: ['nearby_no_app', 'app_hello'],
    servers: ['m1', 'm2', 'm3'].map((name, i) => server('app_hello', name, `10.0.0.${i + 1}`)),
    hosts: new Map([['hello.localhost', 'app_hello']]),
  });
  assert.deepEqual(plan, { reload: false, ops: [] });
});

test('an app created or deleted changes the backends: reload', () => {
  assert.equal(planSync(wanted, { backends: ['nearby_no_app'], servers: [], hosts: new Map() }).reload, true);
  const extra = planSync(wanted, {
    backends: ['nearby_no_app', 'app_hello', 'app_deleted'],
    servers: ['m1', 'm2', 'm3'].map((name, i) => server('app_hello', name, `10.0.0.${i + 1}`)),
    hosts: new Map([['hello.localhost', 'app_hello']]),
  });
  assert.deepEqual(extra, { reload: true, ops: [] });
});
