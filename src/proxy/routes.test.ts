import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keys } from '../model/keys.ts';
import type { AppRecord, MachineRecord, MachineService, MachineStatus } from '../model/mod.ts';
import { computeRoutes, httpPort, routableServer } from './routes.ts';

const app = (name: string): AppRecord => ({ id: name, name, org_slug: 'o', network: 'n', created_at: '' });

function machine(id: string, overrides: Partial<MachineRecord> = {}): MachineRecord {
  return {
    id,
    name: id,
    app: 'hello',
    region: 'fra',
    host: 'h1',
    instance_id: 'i1',
    config: {
      image: 'hello',
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
    },
    image_ref: { registry: 'r', repository: 'hello', tag: 'latest', digest: 'sha256:0' },
    desired: { state: 'started', seq: 1 },
    events: [],
    created_at: '',
    updated_at: '',
    ...overrides,
  };
}

function status(record: MachineRecord, overrides: Partial<MachineStatus> = {}): MachineStatus {
  return {
    id: record.id,
    app: record.app,
    instance_id: record.instance_id,
    state: 'started',
    seq: 1,
    ipv4: '10.0.0.2',
    restarts: 0,
    events: [],
    updated_at: '',
    ...overrides,
  };
}

test('a machine is routable only when its current instance is reported started', () => {
  const record = machine('m1');
  assert.deepEqual(routableServer(record, status(record)), { name: 'm1', address: '10.0.0.2', port: 8080 });
  assert.equal(routableServer(record, undefined), undefined, 'no status yet');
  assert.equal(routableServer(record, status(record, { state: 'stopped' })), undefined);
  assert.equal(routableServer(record, status(record, { state: 'starting' })), undefined);
  assert.equal(routableServer(record, status(record, { instance_id: 'i0' })), undefined, 'an older instance');
  assert.equal(routableServer(record, status(record, { ipv4: undefined })), undefined, 'no address');
  assert.equal(routableServer(record, status(record, { ipv4: '10.0.0.300' })), undefined, 'not an IPv4');
  const destroyed = machine('m1', { desired: { state: 'destroyed', seq: 2 } });
  assert.equal(routableServer(destroyed, status(destroyed)), undefined);
  const gone = machine('m1', { destroyed_at: '2026-01-01T00:00:00Z' });
  assert.equal(routableServer(gone, status(gone)), undefined);
});

test('the HTTP port is the first service with the http handler, or port 80/443', () => {
  const service = (internal_port: number, ports: MachineService['ports']): MachineService => ({
    protocol: 'tcp',
    internal_port,
    ports,
  });
  assert.equal(
    httpPort({
      image: 'x',
      services: [service(5432, [{ port: 5432 }]), service(3000, [{ port: 8443, handlers: ['tls', 'http'] }])],
    }),
    3000,
  );
  assert.equal(httpPort({ image: 'x', services: [service(4000, [{ port: 443 }])] }), 4000);
  assert.equal(httpPort({ image: 'x', services: [service(5432, [{ port: 5432 }])] }), undefined);
  assert.equal(
    httpPort({ image: 'x', services: [{ protocol: 'udp', internal_port: 53, ports: [{ port: 80 }] }] }),
    undefined,
  );
  assert.equal(httpPort({ image: 'x' }), undefined);
});

test('routes: a backend per app (even without machines), servers sorted, a host per app', () => {
  const m2 = machine('m2');
  const m1 = machine('m1');
  const stopped = machine('m3');
  const stray = machine('m4', { app: 'unknown' });
  const statuses = new Map<string, MachineStatus>([
    [keys.machineStatus('h1', 'm1'), status(m1, { ipv4: '10.0.0.1' })],
    [keys.machineStatus('h1', 'm2'), status(m2)],
    [keys.machineStatus('h1', 'm3'), status(stopped, { state: 'stopped' })],
    [keys.machineStatus('h1', 'm4'), status(stray)],
    // A status from another host for the same id does not count.
    [keys.machineStatus('h2', 'm3'), status(stopped)],
  ]);
  const routes = computeRoutes({
    apps: [app('hello'), app('empty'), app('Bad_Name')],
    machines: [m2, m1, stopped, stray],
    statuses,
    appsDomain: 'apps.example.com',
  });
  assert.deepEqual(routes.backends, [
    { app: 'empty', name: 'app_empty', servers: [] },
    {
      app: 'hello',
      name: 'app_hello',
      servers: [
        { name: 'm1', address: '10.0.0.1', port: 8080 },
        { name: 'm2', address: '10.0.0.2', port: 8080 },
      ],
    },
  ]);
  assert.deepEqual(
    [...routes.hosts],
    [
      ['hello.apps.example.com', 'app_hello'],
      ['empty.apps.example.com', 'app_empty'],
    ],
  );
  assert.deepEqual(routes.skipped, ['app "Bad_Name"']);
});
