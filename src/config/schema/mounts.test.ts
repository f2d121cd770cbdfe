import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[[mounts]], [mounts] and the older [mount] are read alike; sizes become GB', () => {
  const { config, warnings } = valid(`
[[mounts]]
  source = "pgdata"
  destination = "/var/lib/postgresql"
  initial_size = "10gb"
  snapshot_retention = 1
  auto_extend_size_threshold = 90
  auto_extend_size_increment = "1gb"
  auto_extend_size_limit = "64GB"
`);
  assert.deepEqual(config.mounts, [
    {
      source: 'pgdata',
      destination: '/var/lib/postgresql',
      initial_size: 10,
      snapshot_retention: 1,
      auto_extend_size_threshold: 90,
      auto_extend_size_increment: 1,
      auto_extend_size_limit: 64,
      processes: [],
    },
  ]);
  assert.deepEqual(warnings, [
    'mounts: not supported yet — volumes; machines start without the mount and lose what they write on restart',
  ]);
  assert.deepEqual(valid('[mount]\nsource = "d"\ndestination = "/d"\n').config.mounts, [
    { source: 'd', destination: '/d', processes: [] },
  ]);
});

test('[[mounts]] mistakes', () => {
  assert.deepEqual(invalid('[mounts]\nsource = "my data"\ndestination = "data"\ninitial_size = "big"\n'), [
    '[mounts] source: expected a volume name (letters, digits, _), got "my data"',
    '[mounts] destination: expected an absolute path like "/data", got "data"',
    '[mounts] initial_size: expected a size like "10gb" (or a number of GB), got "big"',
  ]);
  assert.deepEqual(invalid('[[mounts]]\ndestination = "/data"\n'), [
    '[mounts[0]] source: is required: expected a volume name (letters, digits, _)',
  ]);
});
