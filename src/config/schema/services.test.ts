import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[[services]] with ports, handlers, options, concurrency and checks', () => {
  const { config, warnings } = valid(`
[[services]]
  protocol = "tcp"
  internal_port = 8080
  auto_stop_machines = "suspend"
  auto_start_machines = true
  min_machines_running = 0
  processes = ["app"]
  [[services.ports]]
    port = "80"
    handlers = ["http"]
    force_https = true
  [[services.ports]]
    port = 443
    handlers = ["tls", "http"]
    tls_options = { alpn = ["h2"] }
    [services.ports.http_options]
      h2_backend = true
  [[services.ports]]
    start_port = 10000
    end_port = 10010
    handlers = ["proxy_proto"]
    proxy_proto_options = { version = "v2" }
  [services.concurrency]
    type = "connections"
    hard_limit = 25
    soft_limit = 20
  [[services.tcp_checks]]
    interval = 10000
    timeout = 2000
  [[services.http_checks]]
    interval = "10s"
    grace_period = "1m0s"
    path = "/healthz"
    headers = { }
`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.services, [
    {
      protocol: 'tcp',
      internal_port: 8080,
      auto_stop_machines: 'suspend',
      auto_start_machines: true,
      min_machines_running: 0,
      processes: ['app'],
      ports: [
        { port: 80, handlers: ['http'], force_https: true },
        {
          port: 443,
          handlers: ['tls', 'http'],
          tls_options: { alpn: ['h2'] },
          http_options: { h2_backend: true },
        },
        {
          start_port: 10000,
          end_port: 10010,
          handlers: ['proxy_proto'],
          proxy_proto_options: { version: 'v2' },
        },
      ],
      concurrency: { type: 'connections', hard_limit: 25, soft_limit: 20 },
      tcp_checks: [{ interval: 10_000, timeout: 2000 }],
      http_checks: [{ interval: 10_000, grace_period: 60_000, path: '/healthz', headers: {} }],
    },
  ]);
});

test('Nomad-era service keys: empty lists pass quietly, restart_limit and UDP are reported', () => {
  const { config, warnings } = valid(`
[[services]]
  internal_port = 41641
  protocol = "udp"
  http_checks = []
  script_checks = []
  [[services.ports]]
    port = "41641"
[[services]]
  internal_port = 80
  protocol = "tcp"
  concurrency = "20,25"
  [[services.tcp_checks]]
    restart_limit = 6
[[services]]
`);
  assert.equal(config.services.length, 2, 'an empty [[services]] is dropped, as Fly does');
  assert.deepEqual(config.services[1].concurrency, { type: 'requests', soft_limit: 20, hard_limit: 25 });
  assert.deepEqual(warnings, [
    '[services[0]] protocol: not supported yet — UDP services; the edge proxy forwards TCP only',
    '[services[1]] ports: no [[services.ports]]: the service is reachable on the private network only',
    '[services[1].tcp_checks[0]] restart_limit: ignored — a Nomad-era setting; machines follow [[restart]] instead',
  ]);
});

test('[[services]] mistakes', () => {
  assert.deepEqual(
    invalid(`
[[services]]
  internal_port = 8080
  [[services.ports]]
    port = 99999
    handlers = ["htp"]
  [[services.ports]]
    start_port = 20
    protocol = "tcp"
`),
    [
      '[services[0]] protocol: is required: expected one of "tcp", "udp"',
      '[services[0].ports[0]] port: expected an integer 1–65535, got 99999',
      '[services[0].ports[0]] handlers: unknown handler "htp": expected "http", "tls", "proxy_proto", "pg_tls", "edge_http"',
      '[services[0].ports[1]] end_port: is required with the other end of the range',
      'unknown key [services[0].ports[1]] protocol — protocol belongs in its [[services]] table',
    ],
  );
  assert.deepEqual(
    invalid('[[services]]\nprotocol = "tcp"\ninternal_port = 0\n[[services.ports]]\nport = 80\n'),
    ['[services[0]] internal_port: expected an integer 1–65535, got 0'],
  );
  assert.deepEqual(invalid('services = "web"\n'), ['services: expected [[services]] tables, got "web"']);
});

test('internal_port = 0 is taken on a port range (the client’s own port)', () => {
  const { config } = valid(
    '[[services]]\nprotocol = "tcp"\ninternal_port = 0\n[[services.ports]]\nstart_port = 49152\nend_port = 65535\n',
  );
  assert.equal(config.services[0].internal_port, 0);
});

test('two services of one group on the same public port and protocol are an error', () => {
  const twice = `
[http_service]
  internal_port = 8080
[[services]]
  protocol = "tcp"
  internal_port = 9000
  [[services.ports]]
    start_port = 400
    end_port = 500
    handlers = ["tls"]
`;
  assert.deepEqual(invalid(twice), ['[services[0].ports[0]] tcp port 443 is already used by [http_service]']);
  // The same port over UDP, or in another process group, is fine.
  valid(twice.replace('protocol = "tcp"', 'protocol = "udp"').replace('handlers = ["tls"]', ''));
  valid(
    `[processes]\napp = "a"\nadmin = "b"\n${twice.replace('internal_port = 9000', 'internal_port = 9000\n  processes = ["admin"]')}`,
  );
});
