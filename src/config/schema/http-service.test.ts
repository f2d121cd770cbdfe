import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[http_service] with every documented key', () => {
  const { config, warnings } = valid(`
[http_service]
  internal_port = 8080
  force_https = true
  auto_stop_machines = true
  auto_start_machines = true
  min_machines_running = 1
  processes = ["app"]
  [http_service.concurrency]
    type = "requests"
    soft_limit = 200
    hard_limit = 250
  [http_service.tls_options]
    alpn = ["h2", "http/1.1"]
    versions = ["TLSv1.2", "TLSv1.3"]
  [http_service.http_options]
    h2_backend = true
    idle_timeout = 600
    [http_service.http_options.response]
      pristine = true
      [http_service.http_options.response.headers]
        fly-request-id = false
        x-multi = ["a", "b"]
  [[http_service.checks]]
    grace_period = "10s"
    interval = "30s"
    method = "get"
    timeout = "5s"
    path = "/health"
    protocol = "https"
    tls_skip_verify = true
    [http_service.checks.headers]
      Host = "example.com"
`);
  assert.deepEqual(warnings, [
    '[http_service.checks[0]] tls_skip_verify: not supported yet — https checks always verify the certificate',
  ]);
  assert.deepEqual(config.http_service, {
    internal_port: 8080,
    force_https: true,
    auto_stop_machines: 'stop',
    auto_start_machines: true,
    min_machines_running: 1,
    processes: ['app'],
    concurrency: { type: 'requests', soft_limit: 200, hard_limit: 250 },
    tls_options: { alpn: ['h2', 'http/1.1'], versions: ['TLSv1.2', 'TLSv1.3'] },
    http_options: {
      h2_backend: true,
      idle_timeout: 600,
      response: { pristine: true, headers: { 'fly-request-id': false, 'x-multi': ['a', 'b'] } },
    },
    checks: [
      {
        grace_period: 10_000,
        interval: 30_000,
        timeout: 5000,
        method: 'GET',
        path: '/health',
        protocol: 'https',
        tls_skip_verify: true,
        headers: { Host: 'example.com' },
      },
    ],
  });
});

test('auto_stop_machines takes "off" | "stop" | "suspend" and the older booleans', () => {
  const stop = (value: string): unknown =>
    valid(`[http_service]\ninternal_port = 80\nauto_stop_machines = ${value}\n`).config.http_service
      ?.auto_stop_machines;
  assert.equal(stop('false'), 'off');
  assert.equal(stop('true'), 'stop');
  assert.equal(stop('"suspend"'), 'suspend');
  assert.deepEqual(invalid('[http_service]\ninternal_port = 80\nauto_stop_machines = "sleep"\n'), [
    '[http_service] auto_stop_machines: expected one of "off", "stop", "suspend", got "sleep"',
  ]);
});

test('[http_service] mistakes name the key, the line and what is expected', () => {
  const result = invalid('app = "a"\n[http_service]\ninternal_port = "80a"\nforce_http = true\nports = []\n');
  assert.deepEqual(result, [
    '[http_service] internal_port: expected an integer 1–65535, got "80a"',
    'unknown key [http_service] force_http — did you mean [http_service] force_https?',
    'unknown key [http_service] ports — ports belongs in [[services]] (an [http_service] always listens on 80 and 443)',
  ]);
  assert.deepEqual(invalid('[http_service]\nforce_https = true\n'), [
    '[http_service] internal_port: is required: expected an integer 1–65535',
  ]);
  assert.deepEqual(
    invalid(
      '[http_service]\ninternal_port = 80\n[http_service.concurrency]\nsoft_limit = 30\nhard_limit = 20\n',
    ),
    ['[http_service.concurrency] soft_limit: must not be above hard_limit (20), got 30'],
  );
  assert.deepEqual(
    invalid('[http_service]\ninternal_port = 80\n[http_service.tls_options]\nversions = ["SSLv3"]\n'),
    ['[http_service.tls_options] versions: expected "TLSv1.2" and/or "TLSv1.3", got ["SSLv3"]'],
  );
});

test('[http_service] keys nearby does not act on yet are kept and reported by name', () => {
  const { config, warnings } = valid(
    '[http_service]\ninternal_port = 80\n[http_service.http_options]\ncompress = true\n[http_service.tls_options]\ndefault_self_signed = true\n',
  );
  assert.equal(config.http_service?.http_options?.compress, true);
  assert.deepEqual(warnings, [
    '[http_service.http_options] compress: not supported yet — the proxy does not compress responses',
    '[http_service.tls_options] default_self_signed: not supported yet — nearby answers with its own or an ACME certificate',
  ]);
});
