import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteTable } from './routes.ts';
import type { ServerState } from './runtime-api.ts';
import { planSync } from './sync.ts';
import { certHash } from './tls.ts';

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
      mode: 'http',
      checks: [],
      forceHttps: false,
      servers: [
        { name: 'm1', address: '10.0.0.1', port: 8080, options: [] },
        { name: 'm2', address: '10.0.0.2', port: 8080, options: [] },
        { name: 'm3', address: '10.0.0.3', port: 8080, options: [] },
      ],
    },
  ],
  hosts: new Map([['hello.localhost', 'app_hello']]),
  frontends: [],
  certs: [],
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
    {
      kind: 'set-address',
      backend: 'app_hello',
      server: { name: 'm2', address: '10.0.0.2', port: 8080, options: [] },
    },
    { kind: 'ready', backend: 'app_hello', server: 'm2' },
    {
      kind: 'add-server',
      backend: 'app_hello',
      server: { name: 'm3', address: '10.0.0.3', port: 8080, options: [] },
    },
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

test('a server whose options changed is drained and added again; a changed structure reloads', () => {
  const withCheck: RouteTable = {
    ...wanted,
    backends: wanted.backends.map((backend) => ({
      ...backend,
      servers: backend.servers.map((one) => ({ ...one, options: ['maxconn 5'] })),
    })),
  };
  const servers = ['m1', 'm2', 'm3'].map((name, i) => server('app_hello', name, `10.0.0.${i + 1}`));
  const plan = planSync(withCheck, {
    backends: ['app_hello'],
    servers,
    hosts: new Map([['hello.localhost', 'app_hello']]),
    serverOptions: new Map([
      ['app_hello/m1', 'maxconn 5'],
      ['app_hello/m2', ''],
    ]),
  });
  assert.deepEqual(plan.ops, [
    { kind: 'remove-server', backend: 'app_hello', server: 'm2', inMaintenance: false },
  ]);
  assert.equal(
    planSync(wanted, { backends: ['app_hello'], servers, hosts: new Map(), structureChanged: true }).reload,
    true,
  );
});

test('certificates: new and changed ones are loaded, removed ones deleted', () => {
  const cert = (hostname: string, pem: string) => ({ hostname, pem });
  const withCerts: RouteTable = { ...wanted, certs: [cert('a.example', 'A2'), cert('b.example', 'B')] };
  const plan = planSync(withCerts, {
    backends: ['app_hello'],
    servers: ['m1', 'm2', 'm3'].map((name, i) => server('app_hello', name, `10.0.0.${i + 1}`)),
    hosts: new Map([['hello.localhost', 'app_hello']]),
    certs: new Map([
      ['a.example', certHash(cert('a.example', 'A1'))],
      ['gone.example', 'x'],
    ]),
  });
  assert.deepEqual(plan.ops, [
    { kind: 'put-cert', cert: cert('a.example', 'A2'), isNew: false },
    { kind: 'put-cert', cert: cert('b.example', 'B'), isNew: true },
    { kind: 'delete-cert', hostname: 'gone.example' },
  ]);
});
