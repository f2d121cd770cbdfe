import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from './parse.ts';
import { invalid, valid } from './test-helpers.ts';

test('top-level keys: durations in ms (a bare kill_timeout is seconds), env values as strings', () => {
  const { config } = valid(`
app = "my-app"
primary_region = "fra"
kill_signal = "sigterm"
kill_timeout = 30
[env]
  PORT = 8080
  DEBUG = true
  NAME = 'literal'
`);
  assert.equal(config.app, 'my-app');
  assert.equal(config.primary_region, 'fra');
  assert.equal(config.kill_signal, 'SIGTERM');
  assert.equal(config.kill_timeout, 30_000);
  assert.deepEqual(config.env, { PORT: '8080', DEBUG: 'true', NAME: 'literal' });
  assert.equal(valid('kill_timeout = "2m0s"\n').config.kill_timeout, 120_000);
});

test('an empty file is a valid app with one "app" group and no services', () => {
  assert.deepEqual(valid('').config, {
    env: {},
    services: [],
    checks: {},
    vm: [],
    mounts: [],
    metrics: [],
    statics: [],
    files: [],
    restart: [],
  });
  assert.equal(valid("app = ''\nprocesses = []\nservices = []\n").config.app, undefined);
});

test('unknown keys and sections are errors that suggest the right name', () => {
  assert.deepEqual(invalid('app = "a"\n[http_servce]\ninternal_port = 80\nkill_timout = 5\n'), [
    'unknown key [http_servce] — did you mean [http_service]?',
  ]);
  assert.deepEqual(invalid('kill_timout = 5\ninternal_port = 8080\n'), [
    'unknown key kill_timout — did you mean kill_timeout?',
    'unknown key internal_port — internal_port belongs in [http_service] or [[services]]',
  ]);
});

test('issues carry the key path and line', () => {
  const result = parseConfig('app = "a"\n\n[http_service]\n  internal_port = "80a"\n');
  assert.deepEqual(result.errors, [
    {
      path: 'http_service.internal_port',
      line: 4,
      message: '[http_service] internal_port: expected an integer 1–65535, got "80a"',
    },
  ]);
});

test('a TOML syntax error is one issue with its line and column', () => {
  const result = parseConfig('app = "a"\n[http_service\ninternal_port = 80\n');
  assert.equal(result.config, undefined);
  assert.equal(result.errors.length, 1);
  assert.equal(result.errors[0].line, 2);
  assert.match(result.errors[0].message, /^TOML syntax error at line 2, column \d+: /);
});

test('process groups named in sections must exist', () => {
  assert.deepEqual(
    invalid('[processes]\nweb = "run"\n[http_service]\ninternal_port = 80\nprocesses = ["app"]\n'),
    ['[http_service] processes: unknown process group "app": [processes] defines web'],
  );
  assert.deepEqual(invalid('kill_signal = "SIGBREAK"\napp = "Bad_Name"\n'), [
    'kill_signal: expected one of "SIGINT", "SIGTERM", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGKILL", "SIGSTOP", "SIGHUP", got "SIGBREAK"',
    'app: expected an app name (lowercase letters, digits and "-"), got "Bad_Name"',
  ]);
});
