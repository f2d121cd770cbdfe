import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keys } from '../model/keys.ts';
import type { AppRecord, MachineRecord, MachineService, MachineStatus } from '../model/mod.ts';
import { computeRoutes, httpPort, routableServer, routeHostsToServingBackends } from './routes.ts';
import { issueTestCert, makeTestCa } from './test-certs.ts';

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
  assert.deepEqual(routableServer(record, status(record)), { name: 'm1', address: '10.0.0.2' });
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
  const cordoned = machine('m1', { cordoned: true });
  assert.equal(routableServer(cordoned, status(cordoned)), undefined, 'cordoned');
  const unregistered = machine('m1', { skip_service_registration: true });
  assert.equal(routableServer(unregistered, status(unregistered)), undefined, 'skip_service_registration');
});

test('the HTTP port is the first service with the http handler on port 80 or 443', () => {
  const service = (internal_port: number, ports: MachineService['ports']): MachineService => ({
    protocol: 'tcp',
    internal_port,
    ports,
  });
  assert.equal(
    httpPort({
      image: 'x',
      services: [
        service(5432, [{ port: 5432 }]),
        service(3001, [{ port: 8443, handlers: ['tls', 'http'] }]),
        service(3000, [{ port: 443, handlers: ['tls', 'http'] }]),
      ],
    }),
    3000,
  );
  assert.equal(
    httpPort({ image: 'x', services: [service(4000, [{ port: 443 }])] }),
    undefined,
    'TLS passthrough',
  );
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
  const http = { mode: 'http', checks: [], forceHttps: false, slotOptions: [] };
  assert.deepEqual(routes.backends, [
    { app: 'empty', name: 'app_empty', ...http, servers: [] },
    {
      app: 'hello',
      name: 'app_hello',
      ...http,
      servers: [
        { name: 'm1', address: '10.0.0.1', port: 8080, options: [] },
        { name: 'm2', address: '10.0.0.2', port: 8080, options: [] },
      ],
    },
  ]);
  assert.deepEqual(routes.frontends, []);
  assert.deepEqual(
    [...routes.hosts],
    [
      ['empty.apps.example.com', 'app_empty'],
      ['hello.apps.example.com', 'app_hello'],
    ],
  );
  assert.deepEqual(routes.skipped, ['app "Bad_Name"']);
});

test('services: dedicated ports get a frontend and a backend each; limits, h2c, PROXY protocol and checks', () => {
  const config: MachineRecord['config'] = {
    image: 'x',
    services: [
      {
        protocol: 'tcp',
        internal_port: 8080,
        ports: [
          { port: 80, handlers: ['http'], force_https: true, http_options: { h2_backend: true } },
          { port: 443, handlers: ['tls', 'http'], http_options: { h2_backend: true } },
        ],
        concurrency: { type: 'requests', soft_limit: 20, hard_limit: 25 },
        checks: [{ type: 'http', interval: '5s', timeout: '1s', grace_period: '3s', path: '/health' }],
      },
      {
        protocol: 'tcp',
        internal_port: 6379,
        ports: [{ port: 6379 }, { port: 6380, handlers: ['tls'] }, { start_port: 7000, end_port: 7009 }],
        checks: [{ type: 'tcp' }],
      },
      {
        protocol: 'tcp',
        internal_port: 5432,
        ports: [{ port: 5432, handlers: ['proxy_proto'], proxy_proto_options: { version: 'v2' } }],
      },
      // Taken by another app, and the proxy's own port: left out, with a reason.
      { protocol: 'tcp', internal_port: 9, ports: [{ port: 9999 }, { port: 8443 }] },
    ],
  };
  const m1 = machine('m1', { config });
  const other = machine('o1', {
    app: 'aaa',
    config: { image: 'x', services: [{ protocol: 'tcp', internal_port: 1, ports: [{ port: 9999 }] }] },
  });
  const routes = computeRoutes({
    apps: [app('hello'), app('aaa')],
    machines: [m1, other],
    statuses: new Map([[keys.machineStatus('h1', 'm1'), status(m1)]]),
    appsDomain: 'localhost',
    reservedPorts: [8080, 8443],
  });
  const byName = new Map(routes.backends.map((backend) => [backend.name, backend]));
  const main = byName.get('app_hello');
  assert.equal(main?.forceHttps, true);
  assert.deepEqual(main?.servers[0].options, [
    'maxconn 25',
    'weight 20',
    'proto h2',
    'check',
    'inter 5000ms',
    'fall 2',
    'rise 1',
  ]);
  assert.equal(main?.servers[0].healthGraceMs, 3000);
  // Every slot of the backend gets the options all machines share; limits are set per slot.
  assert.deepEqual(main?.slotOptions, ['proto h2', 'check', 'inter 5000ms', 'fall 2', 'rise 1']);
  assert.deepEqual(main?.checks, [
    '  timeout check 1000ms',
    '  option httpchk',
    '  http-check connect port 8080',
    '  http-check send meth GET uri /health ver HTTP/1.1 hdr Host "hello.localhost"',
    '  http-check expect status 200-399',
  ]);
  assert.equal(byName.get('app_hello_6379_tcp')?.mode, 'tcp');
  assert.deepEqual(byName.get('app_hello_6379_tcp')?.checks.slice(1), [
    '  option tcp-check',
    '  tcp-check connect port 6379',
  ]);
  assert.deepEqual(byName.get('app_hello_5432_pp2')?.servers[0].options, ['send-proxy-v2']);
  assert.deepEqual(
    routes.frontends.map((f) => [f.name, f.mode, f.tls, f.backend]),
    [
      ['port_5432', 'tcp', false, 'app_hello_5432_pp2'],
      ['port_6379', 'tcp', false, 'app_hello_6379_tcp'],
      ['port_6380', 'tcp', true, 'app_hello_6379_tcp'],
      ['ports_7000_7009', 'tcp', false, 'app_hello_6379_tcp'],
      ['port_9999', 'tcp', false, 'app_aaa_1_tcp'],
    ],
  );
  assert.deepEqual(routes.skipped, [
    'app hello port 9999: already served for app aaa',
    'app hello port 8443: nearby listens there',
  ]);
});

test('certificates: valid host names and PEM only; a custom domain routes to its app', async (t) => {
  const ca = await makeTestCa();
  t.after(() => ca.close());
  const pems = await issueTestCert(ca, ['any.example']);
  const other = await issueTestCert(ca, ['other.example']);
  const cert = (hostname: string, app?: string, pem = pems) => ({
    hostname,
    ...pem,
    not_after: '',
    source: 'upload' as const,
    ...(app ? { app } : {}),
  });
  const routes = computeRoutes({
    apps: [app('hello')],
    machines: [],
    statuses: new Map(),
    appsDomain: 'localhost',
    certs: [
      cert('www.example.com', 'hello'),
      cert('*.apps.example'),
      cert('../etc/passwd'),
      cert('x.example', 'nope'),
      cert('garbage.example', undefined, { cert_pem: 'not a certificate', key_pem: pems.key_pem }),
      cert('mismatch.example', undefined, { cert_pem: pems.cert_pem, key_pem: other.key_pem }),
    ],
  });
  const pem = `${pems.cert_pem.trim()}\n${pems.key_pem.trim()}\n`;
  assert.deepEqual(
    routes.certs.map((one) => [one.hostname, one.pem]),
    [
      ['*.apps.example', pem],
      ['www.example.com', pem],
      ['x.example', pem],
    ],
  );
  assert.equal(routes.hosts.get('www.example.com'), 'app_hello');
  assert.equal(routes.hosts.has('x.example'), false);
  assert.deepEqual(routes.skipped, [
    'certificate "../etc/passwd"',
    'certificate garbage.example: not a PEM certificate with its matching key',
    'certificate mismatch.example: not a PEM certificate with its matching key',
  ]);
});

test('in a cluster: the nearest tier only; other hosts through their backhaul; dedicated ports through far twins', () => {
  const services: MachineService[] = [
    { protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] },
    {
      protocol: 'tcp',
      internal_port: 6379,
      ports: [{ port: 6379 }],
      checks: [{ type: 'tcp', interval: '15s' }],
    },
    {
      protocol: 'tcp',
      internal_port: 5432,
      ports: [{ port: 5432, handlers: ['proxy_proto'], proxy_proto_options: { version: 'v2' } }],
    },
    { protocol: 'tcp', internal_port: 9000, ports: [{ port: 9000, handlers: ['http'] }] },
  ];
  const config = { image: 'hello', services };
  const local = machine('local', { host: 'fra-1', region: 'fra', config });
  const near = machine('near', { host: 'ams-1', region: 'ams', config });
  const far = machine('far', { host: 'syd-1', region: 'syd', config });
  const statuses = new Map<string, MachineStatus>([
    [keys.machineStatus('fra-1', 'local'), status(local, { ipv4: '10.0.0.2' })],
    [keys.machineStatus('ams-1', 'near'), status(near, { ipv4: '10.1.0.2' })],
    [keys.machineStatus('syd-1', 'far'), status(far, { ipv4: '10.2.0.2' })],
  ]);
  const tiers: Record<string, { tier: number; via?: { host: string; port: number } }> = {
    'fra-1': { tier: 0 },
    'ams-1': { tier: 2, via: { host: '192.0.2.2', port: 4443 } },
    'syd-1': { tier: 3, via: { host: '192.0.2.3', port: 4443 } },
  };
  const route = (machines: MachineRecord[]) => {
    const routes = computeRoutes({
      apps: [app('hello')],
      machines,
      statuses,
      appsDomain: 'apps.example.com',
      locate: (record) => tiers[record.host],
    });
    return { routes, backend: (name: string) => routes.backends.find((backend) => backend.name === name) };
  };

  const remote = route([near, far]);
  // The app's HTTP backend keeps this host's machines (none here, so its host name goes to its
  // far twin, which has the nearest other host's at its backhaul, without the machine's options).
  assert.deepEqual(remote.backend('app_hello')?.servers, []);
  assert.deepEqual(remote.backend('app_hello_far')?.servers, [
    { name: 'near', address: '192.0.2.2', port: 4443, options: [], backhaul: true },
  ]);
  assert.deepEqual(remote.backend('app_hello_far')?.far, { of: 'app_hello', byHost: true });
  assert.equal(remote.routes.hosts.get('hello.apps.example.com'), 'app_hello');
  routeHostsToServingBackends(remote.routes);
  assert.equal(remote.routes.hosts.get('hello.apps.example.com'), 'app_hello_far');
  // A dedicated port's own backend keeps this host's machines (none here); its far twin the
  // nearest other host's, at its backhaul: TCP on the port after the HTTP one, without the
  // machine's checks or PROXY options (the far side applies them).
  assert.deepEqual(remote.backend('app_hello_6379_tcp')?.servers, []);
  assert.deepEqual(remote.backend('app_hello_6379_tcp_far')?.servers, [
    { name: 'near', address: '192.0.2.2', port: 4444, options: [], backhaul: true },
  ]);
  assert.deepEqual(remote.backend('app_hello_6379_tcp_far')?.far, { of: 'app_hello_6379_tcp' });
  assert.deepEqual(remote.backend('app_hello_6379_tcp_far')?.checks, []);
  assert.deepEqual(remote.backend('app_hello_5432_pp2_far')?.servers, [
    { name: 'near', address: '192.0.2.2', port: 4444, options: [], backhaul: true },
  ]);
  assert.deepEqual(remote.backend('app_hello_9000_http_far')?.servers, [
    { name: 'near', address: '192.0.2.2', port: 4443, options: [], backhaul: true },
  ]);
  assert.deepEqual(
    remote.routes.frontends.map((frontend) => [frontend.port, frontend.backend, frontend.far]),
    [
      [5432, 'app_hello_5432_pp2', 'app_hello_5432_pp2_far'],
      [6379, 'app_hello_6379_tcp', 'app_hello_6379_tcp_far'],
      [9000, 'app_hello_9000_http', 'app_hello_9000_http_far'],
    ],
  );

  // With a machine here, it is the one its host name and dedicated ports reach, with its own options.
  const here = route([local, near, far]);
  routeHostsToServingBackends(here.routes);
  assert.equal(here.routes.hosts.get('hello.apps.example.com'), 'app_hello');
  assert.deepEqual(
    here.backend('app_hello')?.servers.map((server) => [server.name, server.address]),
    [['local', '10.0.0.2']],
  );
  // Back to the backend itself (and its activator) once the twin has nothing either.
  for (const backend of here.routes.backends) backend.servers = [];
  here.routes.hosts.set('hello.apps.example.com', 'app_hello_far');
  routeHostsToServingBackends(here.routes);
  assert.equal(here.routes.hosts.get('hello.apps.example.com'), 'app_hello');
  const again = route([local, near, far]);
  assert.deepEqual(
    again
      .backend('app_hello_5432_pp2')
      ?.servers.map((server) => [server.address, server.port, server.options]),
    [['10.0.0.2', 5432, ['send-proxy-v2']]],
  );
  assert.equal(again.backend('app_hello_6379_tcp')?.servers[0]?.address, '10.0.0.2');
  assert.deepEqual(
    again.backend('app_hello_6379_tcp_far')?.servers.map((server) => server.name),
    ['near'],
    'the far twin keeps the nearest other tier, for when this host has none up',
  );

  // One host, no cluster: no twins.
  const alone = computeRoutes({
    apps: [app('hello')],
    machines: [local],
    statuses,
    appsDomain: 'apps.example.com',
  });
  assert.equal(
    alone.backends.some((backend) => backend.name.endsWith('_far')),
    false,
  );
});
