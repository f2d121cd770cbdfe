import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { processGroups, toMachineConfig } from './machine-config.ts';
import { parseConfig } from './parse.ts';
import { valid } from './test-helpers.ts';

const typicalHttpApp = `
app = "shop"
primary_region = "fra"
kill_signal = "SIGTERM"
kill_timeout = "10s"
[env]
  PORT = "8080"
[http_service]
  internal_port = 8080
  force_https = true
  auto_stop_machines = "stop"
  auto_start_machines = true
  min_machines_running = 1
  [http_service.concurrency]
    type = "requests"
    soft_limit = 20
    hard_limit = 25
  [http_service.tls_options]
    alpn = ["h2", "http/1.1"]
  [[http_service.checks]]
    interval = "15s"
    timeout = "2s"
    grace_period = "5s"
    path = "/health"
[checks.tcp]
  type = "tcp"
  interval = "30s"
[[vm]]
  size = "shared-cpu-2x"
  memory = "1gb"
[[restart]]
  policy = "on-failure"
  retries = 3
`;

test('toMachineConfig on a typical http app', () => {
  const config = valid(typicalHttpApp).config;
  assert.deepEqual(processGroups(config), ['app']);
  assert.deepEqual(toMachineConfig(config, { image: 'registry.local/shop:v1' }), {
    image: 'registry.local/shop:v1',
    metadata: { fly_process_group: 'app' },
    env: { PORT: '8080', PRIMARY_REGION: 'fra' },
    guest: { cpu_kind: 'shared', cpus: 2, memory_mb: 1024 },
    services: [
      {
        protocol: 'tcp',
        internal_port: 8080,
        ports: [
          { port: 80, handlers: ['http'], force_https: true },
          { port: 443, handlers: ['tls', 'http'], tls_options: { alpn: ['h2', 'http/1.1'] } },
        ],
        concurrency: { type: 'requests', soft_limit: 20, hard_limit: 25 },
        autostop: 'stop',
        autostart: true,
        min_machines_running: 1,
        checks: [
          {
            type: 'http',
            interval: '15s',
            timeout: '2s',
            grace_period: '5s',
            port: 8080,
            method: 'GET',
            path: '/health',
            protocol: 'http',
          },
        ],
      },
    ],
    checks: { tcp: { type: 'tcp', interval: '30s', port: 8080 } },
    restart: { policy: 'on-failure', max_retries: 3 },
    stop_config: { signal: 'SIGTERM', timeout: '10s' },
  });
});

test('without [[vm]] a machine gets Fly’s default: shared-cpu-1x with 256 MB', () => {
  const machine = toMachineConfig(valid('app = "a"\n').config, { image: 'i' });
  assert.deepEqual(machine.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 256 });
  assert.equal(machine.services, undefined);
  assert.equal(machine.init, undefined);
});

test('process groups: each gets its command, its [[vm]], and only the sections meant for it', () => {
  const config = valid(`
[processes]
  web = "gunicorn app:server --bind ':8000'"
  worker = "python worker.py"
[experimental]
  entrypoint = ["/entry.sh"]
[[services]]
  protocol = "tcp"
  internal_port = 8000
  processes = ["web"]
  [[services.ports]]
    port = 443
    handlers = ["tls", "http"]
  [[services.tcp_checks]]
    interval = 10000
[[vm]]
  memory = "512mb"
[[vm]]
  size = "performance-1x"
  processes = ["worker"]
[[restart]]
  policy = "always"
  processes = ["worker"]
`).config;
  assert.deepEqual(processGroups(config), ['web', 'worker']);
  const web = toMachineConfig(config, { image: 'i', processGroup: 'web' });
  assert.deepEqual(web.init, {
    cmd: ['gunicorn', 'app:server', '--bind', ':8000'],
    entrypoint: ['/entry.sh'],
  });
  assert.deepEqual(web.guest, { cpu_kind: 'shared', cpus: 1, memory_mb: 512 });
  assert.deepEqual(web.services?.[0].checks, [{ type: 'tcp', port: 8000, interval: '10s' }]);
  assert.equal(web.restart, undefined);
  const worker = toMachineConfig(config, { image: 'i', processGroup: 'worker' });
  assert.deepEqual(worker.init?.cmd, ['python', 'worker.py']);
  assert.deepEqual(worker.guest, { cpu_kind: 'performance', cpus: 1, memory_mb: 2048 });
  assert.equal(worker.services, undefined);
  assert.deepEqual(worker.restart, { policy: 'always' });
  assert.equal(worker.metadata?.fly_process_group, 'worker');
  assert.throws(
    () => toMachineConfig(config, { image: 'i', processGroup: 'app' }),
    (error) => isNearbyError(error, 'CONFIG_UNKNOWN_PROCESS_GROUP'),
  );
});

test('[[files]] go base64-encoded; local_path is read when the machine config is made', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'start.sh'), '#!/bin/sh\necho hi\n');
  const config = valid(`
[[files]]
  guest_path = "/start.sh"
  local_path = "${join(dir, 'start.sh')}"
[[files]]
  guest_path = "/etc/motd"
  raw_value = "hello"
[[files]]
  guest_path = "/run/key"
  secret_name = "KEY"
`).config;
  assert.deepEqual(toMachineConfig(config, { image: 'i' }).files, [
    { guest_path: '/start.sh', raw_value: Buffer.from('#!/bin/sh\necho hi\n').toString('base64') },
    { guest_path: '/etc/motd', raw_value: Buffer.from('hello').toString('base64') },
    { guest_path: '/run/key', secret_name: 'KEY' },
  ]);
  const missing = valid(`[[files]]\nguest_path = "/x"\nlocal_path = "${join(dir, 'nope')}"\n`).config;
  assert.throws(
    () => toMachineConfig(missing, { image: 'i' }),
    (error) => isNearbyError(error, 'CONFIG_FILE_UNREADABLE'),
  );
});

test('[[mounts]] become mounts by volume name, per process group', () => {
  const { config } = valid(`
app = "db"
[processes]
  app = "serve"
  worker = "work"
[[mounts]]
  source = "pgdata"
  destination = "/var/lib/postgresql"
  initial_size = "10gb"
[[mounts]]
  source = "jobs"
  destination = "/jobs"
  processes = ["worker"]
`);
  assert.deepEqual(toMachineConfig(config, { image: 'db:1', processGroup: 'app' }).mounts, [
    { name: 'pgdata', path: '/var/lib/postgresql', size_gb: 10 },
  ]);
  assert.deepEqual(toMachineConfig(config, { image: 'db:1', processGroup: 'worker' }).mounts, [
    { name: 'jobs', path: '/jobs' },
  ]);
});

test('[[vm]] runtime = "microvm" gives its process group microVMs, the others the host default', () => {
  const config = valid(`
app = "a"
[processes]
  web = "/hello"
  worker = "/hello --worker"
[[vm]]
  runtime = "microvm"
  processes = ["worker"]
[[vm]]
  size = "shared-cpu-1x"
`).config;
  assert.equal(toMachineConfig(config, { image: 'i', processGroup: 'worker' }).runtime, 'microvm');
  assert.equal(toMachineConfig(config, { image: 'i', processGroup: 'web' }).runtime, undefined);
  assert.match(
    parseConfig('[[vm]]\n  runtime = "firecracker"\n').errors[0].message,
    /runtime.*container.*microvm/,
  );
});
