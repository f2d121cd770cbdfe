import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[processes], [experimental], [[files]], [[restart]], [[statics]], [[metrics]]', () => {
  const { config, warnings } = valid(`
[processes]
  app = "bin/rails server"
  worker = "bin/sidekiq"
[experimental]
  cmd = "start.sh"
  entrypoint = ["sh"]
  auto_rollback = true
  private_network = true
  allowed_public_ports = []
[[files]]
  guest_path = "/etc/app.conf"
  secret_name = "APP_CONF"
  processes = ["worker"]
[[restart]]
  policy = "never"
[[statics]]
  guest_path = "/app/public"
  url_prefix = "/"
[metrics]
  port = 9091
  path = "/metrics"
`);
  assert.deepEqual(config.processes, { app: 'bin/rails server', worker: 'bin/sidekiq' });
  assert.deepEqual(config.experimental, { cmd: ['start.sh'], entrypoint: ['sh'], auto_rollback: true });
  assert.deepEqual(config.files, [
    { guest_path: '/etc/app.conf', secret_name: 'APP_CONF', processes: ['worker'] },
  ]);
  assert.deepEqual(config.restart, [{ policy: 'no', processes: [] }]);
  assert.deepEqual(config.statics, [{ guest_path: '/app/public', url_prefix: '/' }]);
  assert.deepEqual(config.metrics, [{ port: 9091, path: '/metrics', processes: [] }]);
  assert.deepEqual(warnings, [
    '[experimental] private_network: ignored — every nearby machine is on the private network',
    'statics: not supported yet — serving static files from the edge; requests go to the app',
    'metrics: not supported yet — scraping app metrics',
  ]);
});

test('misc mistakes', () => {
  assert.deepEqual(
    invalid(`
[processes]
  Web = "x"
  job = 5
[[files]]
  guest_path = "/a"
[[restart]]
  policy = "sometimes"
[experimental]
  cmd = [1]
`),
    [
      '[processes] Web: a process group name takes lowercase letters, digits, "-" and "_" only',
      '[processes] job: expected a command line string, got number',
      '[files[0]] guest_path: needs exactly one of local_path, secret_name or raw_value',
      '[restart[0]] policy: expected one of "never", "no", "always", "on-failure", got "sometimes"',
      '[experimental] cmd: expected a list of strings, got an array [1]',
    ],
  );
});

test('the Nomad-era [experimental] kill_timeout stands in for a missing top-level one', () => {
  assert.equal(valid('[experimental]\nkill_timeout = 30\n').config.kill_timeout, 30_000);
  assert.equal(valid('kill_timeout = 5\n[experimental]\nkill_timeout = 30\n').config.kill_timeout, 5000);
});
