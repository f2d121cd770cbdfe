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
  // Volumes are mounted; only their automatic growth and snapshot schedule are not acted on.
  assert.deepEqual(
    warnings.map((warning) => warning.split(': ')[0]),
    [
      '[mounts[0]] snapshot_retention',
      '[mounts[0]] auto_extend_size_threshold',
      '[mounts[0]] auto_extend_size_increment',
      '[mounts[0]] auto_extend_size_limit',
    ],
  );
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
