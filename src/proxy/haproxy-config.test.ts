import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeClusterCredential } from '../../test/helpers/proxy-cluster.ts';
import { BACKEND_HEADER, HOPS_HEADER } from './backhaul-config.ts';
import { writeProxyFiles } from './config-files.ts';
import {
  type ConfigInput,
  defaultLimits,
  NEARBY_HEADER_PREFIX,
  parseListen,
  proxyPaths,
  renderConfig,
  renderHostsMap,
} from './haproxy-config.ts';
import { renderErrorPages } from './pages/error-pages.ts';
import { BUFFERED_HEADER } from './replay-config.ts';
import type { RouteTable, WantedBackend, WantedFrontend } from './routes.ts';
import { issueTestCert, makeTestCa } from './test-certs.ts';

const routes: RouteTable = {
  backends: [
    {
      app: 'empty',
      name: 'app_empty',
      mode: 'http',
      checks: [],
      forceHttps: false,
      servers: [],
      slotOptions: [],
      backup: { host: '127.0.0.1', port: 4999, enabled: true },
    },
    {
      app: 'hello',
      name: 'app_hello',
      mode: 'http',
      checks: [],
      forceHttps: true,
      servers: [
        { name: 'm1', address: '10.0.0.1', port: 8080, options: ['proto h2'], slot: 'app_hello.2' },
        {
          name: 'm2',
          address: '10.0.0.2',
          port: 3000,
          options: ['maxconn 20', 'weight 10', 'proto h2'],
          slot: 'app_hello.1',
        },
      ],
      slotOptions: ['proto h2'],
      slots: 8,
    },
    {
      app: 'hello',
      name: 'app_hello_6379_tcp',
      mode: 'tcp',
      checks: ['  timeout check 2000ms', '  option tcp-check', '  tcp-check connect port 6379'],
      forceHttps: false,
      servers: [
        { name: 'm1', address: '10.0.0.1', port: 6379, options: ['send-proxy-v2', 'check', 'inter 15000ms'] },
      ],
      slotOptions: ['send-proxy-v2', 'check', 'inter 15000ms'],
    },
  ],
  frontends: [
    {
      name: 'port_6379',
      app: 'hello',
      port: 6379,
      mode: 'tcp',
      tls: true,
      forceHttps: false,
      backend: 'app_hello_6379_tcp',
    },
    {
      name: 'ports_9000_9009',
      app: 'hello',
      port: 9000,
      endPort: 9009,
      mode: 'http',
      tls: false,
      forceHttps: true,
      backend: 'app_hello',
    },
  ],
  certs: [],
  hosts: new Map([
    ['empty.apps.example.com', 'app_empty'],
    ['hello.apps.example.com', 'app_hello'],
  ]),
  skipped: [],
};

const input = (dataDir: string): ConfigInput => ({
  paths: proxyPaths(dataDir),
  region: 'syd',
  appsDomain: 'apps.example.com',
  httpListen: { host: '127.0.0.1', port: 8080 },
  tlsListen: { host: '127.0.0.1', port: 8443 },
  routes,
  limits: { ...defaultLimits, maxconn: 1000, maxBodyBytes: 1_000_000 },
});

test('parses listen addresses', () => {
  assert.deepEqual(parseListen('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(parseListen(':80'), { host: '0.0.0.0', port: 80 });
  assert.deepEqual(parseListen('[::]:443'), { host: '::', port: 443 });
  assert.equal(parseListen('8080'), undefined);
  assert.equal(parseListen('host:99999'), undefined);
});

test('renders a backend per app with its server slots, machines in theirs, and the host map', () => {
  const config = renderConfig(input('/var/lib/nearby'));
  assert.match(config, /^ {2}bind 127\.0\.0\.1:8080$/m);
  assert.match(
    config,
    /^ {2}bind 127\.0\.0\.1:8443 ssl crt ".*default-cert\.pem" crt-list ".*certs\.list" alpn h2,http\/1\.1$/m,
  );
  assert.match(config, /^ {2}ssl-default-bind-options ssl-min-ver TLSv1\.2$/m);
  assert.match(config, /^backend app_hello\n {2}mode http\n {2}balance leastconn\n {2}http-reuse safe$/m);
  // Each machine in its slot with its own limits; the other slots wait, disabled, with the same options.
  assert.match(
    config,
    /^ {2}server app_hello\.1 10\.0\.0\.2:3000 maxconn 20 weight 10 proto h2\n {2}server app_hello\.2 10\.0\.0\.1:8080 proto h2\n {2}server app_hello\.3 0\.0\.0\.0:80 disabled proto h2$/m,
  );
  assert.equal(
    config.match(/^ {2}server app_hello\.\d+ .*proto h2$/gm)?.length,
    8,
    'app_hello has its 8 slots',
  );
  assert.match(
    config,
    /^ {2}server app_empty\.8 0\.0\.0\.0:80 disabled\n {2}server nearby_activator 127\.0\.0\.1:4999 backup$/m,
  );
  assert.match(
    config,
    /redirect location https:\/\/%\[var\(txn\.host\)\]:8443%\[pathq\] code 301 if !\{ req\.hdr\(x-forwarded-ssl\) -m str on \}/,
  );
  assert.match(config, /^ {2}http-request set-header X-Forwarded-Proto https$/m);
  assert.match(config, /^ {2}http-request set-header X-Forwarded-SSL off$/m);
  assert.match(config, /^frontend port_6379\n {2}mode tcp\n {2}bind 127\.0\.0\.1:6379 ssl crt /m);
  assert.match(config, /^frontend ports_9000_9009\n {2}mode http\n {2}bind 127\.0\.0\.1:9000-9009\n/m);
  assert.match(
    config,
    /^ {2}server app_hello_6379_tcp\.1 10\.0\.0\.1:6379 send-proxy-v2 check inter 15000ms$/m,
  );
  assert.match(config, /if \{ req\.hdr_val\(content-length\) gt 1000000 \}/);
  assert.match(config, /^ {2}retry-on conn-failure empty-response 0rtt-rejected$/m);
  assert.match(config, /^backend app_empty$/m);
  assert.match(
    config,
    /stats socket "\/var\/lib\/nearby\/proxy\/admin\.sock" .*level admin expose-fd listeners/,
  );
  assert.match(config, /^ {2}unique-id-format %\[uuid\(\)\]-syd$/m);
  assert.match(config, /^ {2}http-request set-header Fly-Region syd$/m);
  assert.match(
    config,
    /regsub\('\[\.\]apps\[\.\]example\[\.\]com\$',''\) if \{ var\(txn\.host\) -m end \.apps\.example\.com \}/,
  );
  for (const limit of ['connect 5s', 'client 60s', 'server 60s', 'http-request 10s', 'http-keep-alive 60s']) {
    assert.match(config, new RegExp(`^ {2}timeout ${limit}$`, 'm'));
  }
  assert.equal(renderConfig(input('/var/lib/nearby')), config, 'the same routes render the same text');
  assert.equal(
    renderHostsMap(routes),
    'empty.apps.example.com app_empty\nhello.apps.example.com app_hello\n',
  );
});

test("in a cluster the app backend keeps this host's machines; its far twin reaches other hosts over warm TLS", () => {
  const clustered: RouteTable = {
    ...routes,
    backends: [
      { ...routes.backends[0], servers: [] },
      {
        ...routes.backends[0],
        name: 'app_empty_far',
        far: { of: 'app_empty', byHost: true },
        backup: undefined,
        servers: [
          {
            name: 'm9',
            address: '10.0.0.9',
            port: 4443,
            options: [],
            slot: 'app_empty_far.1',
            backhaul: true,
          },
        ],
      },
    ],
    frontends: [],
  };
  const config = renderConfig({
    ...input('/var/lib/nearby'),
    routes: clustered,
    via: 'fra-1',
    backhaul: {
      listen: { host: '10.0.0.1', port: 4443 },
      certFile: '/etc/nearby/cluster.pem',
      caFile: '/etc/nearby/ca.pem',
    },
  });
  const section = (name: string) => config.slice(config.indexOf(`\n${name}\n`)).split('\n\n')[0] ?? '';
  const near = section('backend app_empty');
  assert.match(near, /^ {2}http-reuse safe$/m);
  assert.doesNotMatch(near, /ssl/);
  assert.match(near, /^ {2}server app_empty\.1 0\.0\.0\.0:80 disabled$/m);
  assert.match(near, /^ {2}server nearby_activator 127\.0\.0\.1:4999 backup$/m);
  const far = section('backend app_empty_far');
  // Another host's proxy keeps its connections longer than this side: any request may take one.
  assert.match(far, /^ {2}http-reuse always$/m);
  assert.match(
    far,
    /^ {2}default-server ssl crt "\/etc\/nearby\/cluster\.pem" ca-file "\/etc\/nearby\/ca\.pem" verify required$/m,
  );
  assert.match(far, /^ {2}server app_empty_far\.1 10\.0\.0\.9:4443$/m);
  // The far side routes it by Host: no header naming a backend.
  assert.doesNotMatch(far, /x-nearby-route/);
  assert.doesNotMatch(far, /nearby_activator/);
  // Idempotent requests on a warm connection the far side closed as they left are retried.
  assert.match(near, /disable-l7-retry if \{ nbsrv lt 2 \}/);
  assert.doesNotMatch(far, /nbsrv lt 2/);
  // The far side keeps idle backhaul connections longer than this side's pool does.
  assert.match(section('frontend nearby_backhaul'), /^ {2}timeout http-keep-alive 120s$/m);
});

test('error pages: HTML and text for each, app name left to HAProxy, literal % escaped', () => {
  const pages = renderErrorPages('apps.example.com');
  const byFile = new Map(pages.map((page) => [page.file, page]));
  for (const name of ['no-app', 'no-host', 'no-machine', 'unavailable', 'bad-gateway', 'gateway-timeout']) {
    assert.ok(byFile.has(`${name}.html`) && byFile.has(`${name}.txt`), name);
  }
  assert.equal(byFile.get('no-machine.txt')?.status, 503);
  assert.equal(
    byFile.get('no-app.txt')?.body,
    "404 no such app\n\nno app named '%[var(txn.app)]' here; apps answer at <app>.apps.example.com\n",
  );
  assert.match(byFile.get('no-app.html')?.body ?? '', /apps answer at &#60;app&#62;\.apps\.example\.com/);
  assert.match(
    byFile.get('no-machine.html')?.body ?? '',
    /<code>nearby status -a %\[var\(txn\.app\)\]<\/code>/,
  );
});

test('HAProxy accepts the rendered configuration', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nearby-proxy-config-'));
  const ca = await makeTestCa();
  t.after(() => {
    ca.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const cert = await issueTestCert(ca, ['*.apps.example.com']);
  const withCert = (base: ConfigInput): ConfigInput => ({
    ...base,
    routes: {
      ...routes,
      certs: [{ hostname: '*.apps.example.com', pem: `${cert.cert_pem}${cert.key_pem}` }],
    },
  });
  await writeProxyFiles(withCert(input(dataDir)), '/usr/sbin/haproxy');
  const paths = proxyPaths(dataDir);
  assert.equal(readFileSync(paths.config, 'utf8'), renderConfig(withCert(input(dataDir))));
  assert.match(readFileSync(paths.defaultCert, 'utf8'), /BEGIN CERTIFICATE[\s\S]*PRIVATE KEY/);
  assert.match(readFileSync(join(paths.pagesDir, 'bad-gateway.html'), 'utf8'), /failed mid-request/);
  assert.match(
    readFileSync(paths.crtList, 'utf8'),
    /certs\/\*\.apps\.example\.com\.pem \*\.apps\.example\.com\n/,
  );
  const broken = { ...withCert(input(dataDir)), region: 'syd x' };
  await assert.rejects(writeProxyFiles(broken, '/usr/sbin/haproxy'), { code: 'HAPROXY_CONFIG_INVALID' });
  assert.equal(
    readFileSync(paths.config, 'utf8'),
    renderConfig(withCert(input(dataDir))),
    'the good one stays',
  );
});

test('in a cluster dedicated ports reach other hosts through far twins, and HAProxy accepts it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nearby-proxy-far-'));
  const credential = await makeClusterCredential();
  t.after(() => {
    credential.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const far = (name: string, of: string, mode: 'http' | 'tcp', port: number): WantedBackend => ({
    app: 'hello',
    name,
    mode,
    checks: [],
    forceHttps: false,
    servers: [{ name: 'm9', address: '10.0.0.9', port, options: [], slot: `${name}.1`, backhaul: true }],
    slotOptions: [],
    far: { of },
  });
  const clustered: RouteTable = {
    ...routes,
    backends: [
      ...routes.backends,
      {
        ...far('app_empty_far', 'app_empty', 'http', 4443),
        app: 'empty',
        far: { of: 'app_empty', byHost: true },
      },
      far('app_hello_6379_tcp_far', 'app_hello_6379_tcp', 'tcp', 4444),
      { ...routes.backends[1], name: 'app_hello_9000_http', servers: [], slots: 2 },
      far('app_hello_9000_http_far', 'app_hello_9000_http', 'http', 4443),
    ],
    frontends: [
      { ...(routes.frontends[0] as WantedFrontend), far: 'app_hello_6379_tcp_far' },
      {
        ...(routes.frontends[1] as WantedFrontend),
        backend: 'app_hello_9000_http',
        far: 'app_hello_9000_http_far',
      },
    ],
  };
  const clusterInput: ConfigInput = {
    ...input(dataDir),
    routes: clustered,
    via: 'fra-1',
    backhaul: {
      listen: { host: '127.0.0.1', port: 4443 },
      certFile: credential.certFile,
      caFile: credential.caFile,
    },
  };
  await writeProxyFiles(clusterInput, '/usr/sbin/haproxy');
  const config = readFileSync(proxyPaths(dataDir).config, 'utf8');
  const section = (name: string) => config.slice(config.indexOf(`\n${name}\n`)).split('\n\n')[0] ?? '';
  // The public port: this host's machines while one is up, else the far twin.
  assert.match(section('frontend port_6379'), /unique-id-format app_hello_6379_tcp\n/);
  assert.match(
    section('frontend port_6379'),
    /use_backend app_hello_6379_tcp if \{ nbsrv\(app_hello_6379_tcp\) gt 0 \}\n {2}default_backend app_hello_6379_tcp_far$/,
  );
  // TCP twins send a PROXY v2 header naming the backend, in TLS with the cluster credential.
  assert.match(
    section('backend app_hello_6379_tcp_far'),
    / {2}default-server ssl crt "[^"]+" ca-file "[^"]+" verify required send-proxy-v2 proxy-v2-options unique-id\n {2}server app_hello_6379_tcp_far\.1 10\.0\.0\.9:4444\n/,
  );
  assert.match(
    section('backend app_hello_9000_http_far'),
    /http-request set-header x-nearby-route app_hello_9000_http\n/,
  );
  // The far side: TCP on the next port, routed by the header's unique id to this host's backend.
  assert.match(section('frontend nearby_backhaul_tcp'), /bind 127\.0\.0\.1:4444 accept-proxy ssl crt /);
  assert.match(section('frontend nearby_backhaul_tcp'), /use_backend %\[fc_pp_unique_id\] if /);
  assert.match(section('frontend nearby_backhaul'), /use_backend %\[var\(txn\.nb_backend\)\] if /);
  // Public frontends drop a client's own x-nearby-route (every x-nearby- header, in one rule,
  // first); the backhaul keeps the hop count and route other proxies send.
  assert.match(
    section('frontend nearby_http'),
    /maxconn \d+\n {2}http-request del-header x-nearby- -m beg\n/,
  );
  assert.doesNotMatch(section('frontend nearby_backhaul'), /del-header x-nearby- -m beg/);
  for (const name of [HOPS_HEADER, BACKEND_HEADER, BUFFERED_HEADER, 'x-nearby-replay']) {
    assert.ok(name.startsWith(NEARBY_HEADER_PREFIX), `${name}: the public frontends delete it by its prefix`);
  }
});
