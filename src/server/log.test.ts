import assert from 'node:assert/strict';
import { test } from 'node:test';
import { repeatedKeys } from '../../test/helpers/log-lines.ts';
import { createLogger } from './log.ts';

function capture(format: 'json' | 'text') {
  const lines: string[] = [];
  const log = createLogger(format, 'info', { write: (line: string) => lines.push(line.trimEnd()) });
  return { log, lines };
}

test('a JSON line names its part and component once each', () => {
  const { log, lines } = capture('json');
  // As `nearby server` wires them: it names the part, the part names its pieces.
  const proxy = log.child({ part: 'proxy' }).child({ region: 'fra' });
  proxy.child({ component: 'activator' }).info({ app: 'web' }, 'woke a machine');
  log.child({ part: 'agent' }).child({ component: 'volumes' }).warn('loop device busy');
  assert.equal(lines.length, 2);
  for (const line of lines) assert.deepEqual(repeatedKeys(line), [], line);
  assert.deepEqual(JSON.parse(lines[0]), {
    level: 30,
    time: JSON.parse(lines[0]).time,
    part: 'proxy',
    region: 'fra',
    component: 'activator',
    app: 'web',
    msg: 'woke a machine',
  });
});

test('the check sees a key a child repeats', () => {
  const { log, lines } = capture('json');
  log.child({ part: 'proxy' }).child({ part: 'proxy' }).info('twice');
  assert.deepEqual(repeatedKeys(lines[0]), ['part']);
  assert.deepEqual(repeatedKeys('{"a":{"b":1,"b":2},"c":["b","b"],"d":"\\"b\\":"}'), ['b']);
});

test('a text line shows the part in brackets and the other fields after the message', () => {
  const { log, lines } = capture('text');
  log.child({ part: 'agent' }).child({ component: 'volumes' }).warn({ volume: 'vol_1' }, 'loop device busy');
  assert.match(
    lines[0],
    /^\d\d:\d\d:\d\d\.\d{3} WARN {2}\[agent\] loop device busy component=volumes volume=vol_1$/,
  );
});
