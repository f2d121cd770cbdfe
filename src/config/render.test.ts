import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssues } from './format.ts';
import { parseConfig } from './parse.ts';
import { normalizedJson, renderConfig } from './render.ts';
import { valid } from './test-helpers.ts';

const everything = `
app = "full"
primary_region = "syd"
kill_signal = "SIGINT"
kill_timeout = "1m30s"
console_command = "/bin/sh"
[build]
  image = "registry.local/full:1"
  build-target = "prod"
  [build.args]
    A = "1"
[deploy]
  strategy = "bluegreen"
  release_command = "migrate --yes"
  wait_timeout = "5m"
[env]
  PORT = "8080"
[processes]
  app = "serve"
  cron = "cron -f"
[http_service]
  internal_port = 8080
  force_https = true
  auto_stop_machines = "suspend"
  processes = ["app"]
  [http_service.http_options]
    h2_backend = true
  [[http_service.checks]]
    interval = "1.5s"
    path = "/up"
    [http_service.checks.headers]
      Host = "full.example"
[[services]]
  protocol = "tcp"
  internal_port = 5432
  processes = ["app"]
  [[services.ports]]
    port = 5432
    handlers = ["pg_tls"]
  [[services.tcp_checks]]
    interval = "15s"
[checks.cron]
  type = "http"
  port = 9000
  path = "/ok"
  processes = ["cron"]
[[vm]]
  size = "shared-cpu-1x"
  memory = "2gb"
  processes = ["app"]
[[mounts]]
  source = "data"
  destination = "/data"
  initial_size = "20gb"
[[metrics]]
  port = 9091
  path = "/metrics"
[[statics]]
  guest_path = "/app/public"
  url_prefix = "/static"
[[files]]
  guest_path = "/etc/x"
  raw_value = "x"
[[restart]]
  policy = "on-failure"
  retries = 5
  processes = ["cron"]
[experimental]
  cmd = ["serve", "--fast"]
`;

test('renderConfig → parseConfig gives the same config back', () => {
  const config = valid(everything).config;
  const text = renderConfig(config);
  assert.match(text, /^# nearby\.toml/);
  assert.match(text, /kill_timeout = "1m30s"/);
  assert.match(text, /initial_size = "20gb"/);
  assert.match(text, /build-target = "prod"/);
  const again = parseConfig(text);
  assert.deepEqual(again.errors, []);
  assert.deepEqual(again.config, config);
});

test('normalizedJson leaves out empty lists and tables', () => {
  const json = normalizedJson(valid('app = "a"\n[http_service]\ninternal_port = 80\n').config);
  assert.deepEqual(json, { app: 'a', http_service: { internal_port: 80, force_https: false } });
});

test('formatIssues prints file:line: kind: message and a summary', () => {
  const bad = parseConfig('app = "a"\nswap_size_mb = 512\n[http_service]\ninternal_port = "80a"\n');
  assert.equal(
    formatIssues(bad, 'fly.toml'),
    'fly.toml:4: error: [http_service] internal_port: expected an integer 1–65535, got "80a"\n' +
      'fly.toml:2: warning: swap_size_mb: not supported yet — machines get no swap file\n' +
      'fly.toml: invalid (1 error, 1 warning)\n',
  );
  assert.equal(formatIssues(parseConfig('app = "a"\n'), 'nearby.toml'), 'nearby.toml: valid\n');
  assert.match(
    formatIssues(parseConfig('swap_size_mb = 1\n'), 'f'),
    /f: valid, with 1 warning about keys nearby does not act on yet\n$/,
  );
});
