import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineIndex } from './lines.ts';

test('line index follows headers, arrays of tables, dotted keys and multi-line arrays', () => {
  const index = new LineIndex(
    [
      'app = "x" # comment with [brackets]',
      'vm.size = "a"',
      '[[services]]',
      '  internal_port = 1',
      '  [[services.ports]]',
      '    port = 80',
      '  [[services.ports]]',
      '    port = 443',
      '[[services]]',
      '  args = [',
      '    "x = 1",',
      '  ]',
      '  [services.concurrency]',
      '    soft_limit = 2',
      "[checks.'my check']",
      '  type = "tcp"',
    ].join('\n'),
  );
  assert.equal(index.lineOf('app'), 1);
  assert.equal(index.lineOf('vm.size'), 2);
  assert.equal(index.lineOf('services[0].internal_port'), 4);
  assert.equal(index.lineOf('services[0].ports[1].port'), 8);
  assert.equal(index.lineOf('services[1].concurrency.soft_limit'), 14);
  assert.equal(index.lineOf('services[1].concurrency.hard_limit'), 13, 'falls back to its table');
  assert.equal(index.lineOf('services[1].args'), 10);
  assert.equal(index.lineOf('checks."my check".type'), 16);
  assert.equal(index.lineOf('nowhere'), undefined);
});
