import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[checks.<name>] http and tcp checks; bare numbers in checks are milliseconds', () => {
  const { config } = valid(`
[checks]
  [checks.pg]
    type = "http"
    port = 5500
    method = "get"
    path = "/flycheck/pg"
    interval = "15s"
    timeout = 10000
    grace_period = "30s"
    processes = ["app"]
    [checks.pg.headers]
      Authorization = "secret"
  [checks.tcp]
    type = "tcp"
    port = 5432
`);
  assert.deepEqual(config.checks, {
    pg: {
      type: 'http',
      port: 5500,
      method: 'GET',
      path: '/flycheck/pg',
      interval: 15_000,
      timeout: 10_000,
      grace_period: 30_000,
      processes: ['app'],
      headers: { Authorization: 'secret' },
    },
    tcp: { type: 'tcp', port: 5432, headers: {}, processes: [] },
  });
});

test('a check without a port takes the [http_service] internal_port; without one it is an error', () => {
  assert.equal(
    valid('[http_service]\ninternal_port = 80\n[checks.a]\ntype = "tcp"\n').config.checks.a.port,
    undefined,
  );
  assert.deepEqual(invalid('[checks.a]\ntype = "tcp"\n'), [
    '[checks.a] port: is required: there is no [http_service] whose internal_port the check could use',
  ]);
});

test('check mistakes: script checks, unit-less durations, bad paths, unknown keys', () => {
  assert.deepEqual(invalid('[checks.vm]\ntype = "script"\ncommand = "flycheck"\nport = 1\n'), [
    '[checks.vm] type: script checks ran on Fly’s Nomad platform only: machines run "http" and "tcp" checks',
  ]);
  assert.deepEqual(invalid('[checks.a]\ntype = "htp"\nport = 1\n'), [
    '[checks.a] type: expected one of "http", "tcp" (did you mean "http"?), got "htp"',
  ]);
  assert.deepEqual(
    invalid(
      '[[services]]\nprotocol = "tcp"\ninternal_port = 1\n[[services.http_checks]]\ngrace_period = "40"\npath = "health"\ninterval = "soon"\nmetod = "GET"\n',
    ),
    [
      '[services[0].http_checks[0]] grace_period: "40" has no unit: write "40s" for seconds (expected a duration like "10s" or "1m30s")',
      '[services[0].http_checks[0]] path: expected a path starting with "/", got "health"',
      '[services[0].http_checks[0]] interval: expected a duration like "10s" or "1m30s", got "soon"',
      'unknown key [services[0].http_checks[0]] metod — did you mean [services[0].http_checks[0]] method?',
    ],
  );
});
