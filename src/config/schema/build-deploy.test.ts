import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[build] and [deploy]', () => {
  const { config, warnings } = valid(`
[build]
  dockerfile = "Dockerfile.prod"
  ignorefile = ".dockerignore"
  build-target = "runtime"
  [build.args]
    NODE_VERSION = "20"
    WORKERS = 4
[deploy]
  strategy = "canary"
  release_command = "bin/migrate"
  release_command_timeout = "10m"
  max_unavailable = 0.33
  wait_timeout = 120
  [deploy.release_command_vm]
    size = "shared-cpu-2x"
`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.build, {
    dockerfile: 'Dockerfile.prod',
    ignorefile: '.dockerignore',
    build_target: 'runtime',
    args: { NODE_VERSION: '20', WORKERS: '4' },
  });
  assert.deepEqual(config.deploy, {
    strategy: 'canary',
    release_command: 'bin/migrate',
    release_command_timeout: 600_000,
    max_unavailable: 0.33,
    wait_timeout: 120_000,
    release_command_vm: { size: 'shared-cpu-2x', cpu_kind: 'shared', cpus: 2, memory_mb: 512, processes: [] },
  });
});

test('buildpack builds are kept and reported as not supported yet', () => {
  const { config, warnings } = valid('[build]\nbuilder = "heroku/buildpacks:20"\nbuildpacks = ["x"]\n');
  assert.equal(config.build?.builder, 'heroku/buildpacks:20');
  assert.equal(warnings.length, 2);
  assert.match(warnings[0], /^\[build\] builder: not supported yet — buildpack builds/);
});

test('[build] and [deploy] mistakes', () => {
  assert.deepEqual(
    invalid(
      '[build]\nimage = 5\nrelease_command = "x"\n[deploy]\nstrategy = "blue-green"\nmax_unavailable = 1.5\n',
    ),
    [
      '[build] image: expected a string, got 5',
      'unknown key [build] release_command — release_command belongs in [deploy]',
      '[deploy] strategy: expected one of "rolling", "immediate", "canary", "bluegreen" (did you mean "bluegreen"?), got "blue-green"',
      '[deploy] max_unavailable: expected a fraction below 1 or a whole number of machines, got 1.5',
    ],
  );
});
