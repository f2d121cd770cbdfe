import assert from 'node:assert/strict';
import { test } from 'node:test';
import { releaseMachineConfig } from './release-command.ts';

const base = {
  image: 'hello:1',
  env: { DATABASE: 'main' },
  init: { entrypoint: ['/bin/sh', '-c'], cmd: ['exec /hello'] },
  guest: { cpu_kind: 'shared' as const, cpus: 1, memory_mb: 256 },
  services: [{ protocol: 'tcp' as const, internal_port: 8080 }],
  checks: { alive: { type: 'tcp' as const, port: 8080 } },
  metadata: { fly_process_group: 'app' },
};

test('the release command machine: same image and env, the command as cmd, no services, never restarted', () => {
  const config = releaseMachineConfig(base, { release_command: "bin/migrate --to 'last one'" });
  assert.equal(config.image, 'hello:1');
  assert.deepEqual(config.env, { DATABASE: 'main' });
  assert.deepEqual(config.init, { entrypoint: ['/bin/sh', '-c'], cmd: ['bin/migrate', '--to', 'last one'] });
  assert.equal(config.services, undefined);
  assert.equal(config.checks, undefined);
  assert.deepEqual(config.restart, { policy: 'no' });
  assert.equal(config.metadata?.fly_release_command, 'true');
  assert.deepEqual(config.guest, base.guest);
});

test('release_command_vm sizes it', () => {
  const config = releaseMachineConfig(base, {
    release_command: 'migrate',
    release_command_vm: { cpu_kind: 'performance', cpus: 2, memory_mb: 4096, processes: [] },
  });
  assert.deepEqual(config.guest, { cpu_kind: 'performance', cpus: 2, memory_mb: 4096 });
});

test('a release_command that is no command is refused clearly', () => {
  assert.throws(() => releaseMachineConfig(base, { release_command: "bin/migrate 'unclosed" }), {
    code: 'RELEASE_COMMAND_INVALID',
    message: /is not a command/,
  });
});
