import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RouteTable } from './routes.ts';
import type { ServerState } from './runtime-api.ts';
import { planSync } from './sync.ts';
import { certHash } from './tls.ts';

const slot = (backend: string, name: string, address: string, adminState = 0): ServerState => ({
  backend,
  name,
  address,
  port: address === '0.0.0.0' ? 80 : 8080,
  opState: address === '0.0.0.0' ? 0 : 2,
  adminState,
});
const machine = (name: string, address: string, slotName: string, options: string[] = []) => ({
  name,
  address,
  port: 8080,
  options,
  slot: slotName,
});
const applied = (entries: [string, string][]) =>
  new Map(entries.map(([key, name]) => [key, { machine: name, maxconn: 0, weight: 1 }]));

const wanted: RouteTable = {
  backends: [
    {
      app: 'hello',
      name: 'app_hello',
      mode: 'http',
      checks: [],
      forceHttps: false,
      servers: [
        machine('m1', '10.0.0.1', 'app_hello.1'),
        machine('m2', '10.0.0.2', 'app_hello.2'),
        machine('m3', '10.0.0.3', 'app_hello.3'),
      ],
      slotOptions: [],
      slots: 5,
    },
  ],
  hosts: new Map([['hello.localhost', 'app_hello']]),
  frontends: [],
  certs: [],
  skipped: [],
};
const inSync = () => [
  slot('app_hello', 'app_hello.1', '10.0.0.1'),
  slot('app_hello', 'app_hello.2', '10.0.0.2'),
  slot('app_hello', 'app_hello.3', '10.0.0.3'),
  slot('app_hello', 'app_hello.4', '0.0.0.0', 0x05),
  slot('app_hello', 'app_hello.5', '0.0.0.0', 0x05),
];
const inSyncApplied = applied([
  ['app_hello/app_hello.1', 'm1'],
  ['app_hello/app_hello.2', 'm2'],
  ['app_hello/app_hello.3', 'm3'],
]);

test('same backends: slots are pointed at machines, freed ones drain, hosts patched, no reload', () => {
  const plan = planSync(wanted, {
    backends: ['nearby_no_app', 'app_hello'],
    servers: [
      slot('app_hello', 'app_hello.1', '10.0.0.1'),
      slot('app_hello', 'app_hello.2', '10.0.0.9', 0x01),
      slot('app_hello', 'app_hello.3', '0.0.0.0', 0x05),
      slot('app_hello', 'app_hello.4', '10.0.0.4'),
      slot('app_hello', 'app_hello.5', '10.0.0.5', 0x01),
    ],
    applied: applied([
      ['app_hello/app_hello.1', 'm1'],
      ['app_hello/app_hello.2', 'm2'],
      ['app_hello/app_hello.4', 'old'],
      ['app_hello/app_hello.5', 'gone'],
    ]),
    sessions: new Map([['app_hello/app_hello.5', 2]]),
    hosts: new Map([['stale.localhost', 'app_stale']]),
  });
  assert.equal(plan.reload, false);
  assert.deepEqual(plan.ops, [
    {
      kind: 'set-address',
      backend: 'app_hello',
      slot: 'app_hello.2',
      server: machine('m2', '10.0.0.2', 'app_hello.2'),
    },
    { kind: 'ready', backend: 'app_hello', slot: 'app_hello.2' },
    {
      kind: 'point',
      backend: 'app_hello',
      slot: 'app_hello.3',
      server: machine('m3', '10.0.0.3', 'app_hello.3'),
      inMaintenance: true,
    },
    { kind: 'set-host', host: 'hello.localhost', backend: 'app_hello', exists: false },
    {
      kind: 'free',
      backend: 'app_hello',
      slot: 'app_hello.4',
      inMaintenance: false,
      idle: true,
      cleared: false,
    },
    {
      kind: 'free',
      backend: 'app_hello',
      slot: 'app_hello.5',
      inMaintenance: true,
      idle: false,
      cleared: false,
    },
    { kind: 'delete-host', host: 'stale.localhost' },
  ]);
});

test('in sync: nothing to do', () => {
  const plan = planSync(wanted, {
    backends: ['nearby_no_app', 'app_hello'],
    servers: inSync(),
    applied: inSyncApplied,
    hosts: new Map([['hello.localhost', 'app_hello']]),
  });
  assert.deepEqual(plan, { reload: false, ops: [] });
});

test('the activator is enabled for apps it can wake, and disabled again, at run time', () => {
  const withActivator = (enabled: boolean): RouteTable => ({
    ...wanted,
    backends: wanted.backends.map((one) => ({ ...one, backup: { host: '127.0.0.1', port: 9, enabled } })),
  });
  const servers = (adminState: number) => [
    ...inSync(),
    slot('app_hello', 'nearby_activator', '127.0.0.1', adminState),
  ];
  const actual = {
    backends: ['app_hello'],
    applied: inSyncApplied,
    hosts: new Map([['hello.localhost', 'app_hello']]),
  };
  assert.deepEqual(planSync(withActivator(true), { ...actual, servers: servers(0x05) }).ops, [
    { kind: 'activator', backend: 'app_hello', enabled: true },
  ]);
  assert.deepEqual(planSync(withActivator(false), { ...actual, servers: servers(0x04) }).ops, [
    { kind: 'activator', backend: 'app_hello', enabled: false },
  ]);
  assert.deepEqual(planSync(withActivator(false), { ...actual, servers: servers(0x05) }).ops, []);
});

test('an app created or deleted changes the backends: reload', () => {
  assert.equal(planSync(wanted, { backends: ['nearby_no_app'], servers: [], hosts: new Map() }).reload, true);
  const extra = planSync(wanted, {
    backends: ['nearby_no_app', 'app_hello', 'app_deleted'],
    servers: inSync(),
    applied: inSyncApplied,
    hosts: new Map([['hello.localhost', 'app_hello']]),
  });
  assert.deepEqual(extra, { reload: true, ops: [] });
});

test('new limits are set on the live slot; a changed structure reloads', () => {
  const limited: RouteTable = {
    ...wanted,
    backends: wanted.backends.map((backend) => ({
      ...backend,
      servers: backend.servers.map((one) => ({ ...one, options: ['maxconn 5', 'weight 3'] })),
    })),
  };
  const plan = planSync(limited, {
    backends: ['app_hello'],
    servers: inSync(),
    hosts: new Map([['hello.localhost', 'app_hello']]),
    applied: new Map([
      ['app_hello/app_hello.1', { machine: 'm1', maxconn: 5, weight: 3 }],
      ['app_hello/app_hello.2', { machine: 'm2', maxconn: 0, weight: 1 }],
      ['app_hello/app_hello.3', { machine: 'm3', maxconn: 5, weight: 3 }],
    ]),
  });
  assert.deepEqual(plan.ops, [
    { kind: 'set-limits', backend: 'app_hello', slot: 'app_hello.2', maxconn: 5, weight: 3 },
  ]);
  assert.equal(
    planSync(wanted, { backends: ['app_hello'], servers: inSync(), hosts: new Map(), structureChanged: true })
      .reload,
    true,
  );
});

test('certificates: new and changed ones are loaded, removed ones deleted', () => {
  const cert = (hostname: string, pem: string) => ({ hostname, pem });
  const withCerts: RouteTable = { ...wanted, certs: [cert('a.example', 'A2'), cert('b.example', 'B')] };
  const plan = planSync(withCerts, {
    backends: ['app_hello'],
    servers: inSync(),
    applied: inSyncApplied,
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
