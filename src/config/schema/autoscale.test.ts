import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../parse.ts';
import { renderConfig } from '../render.ts';
import { invalid, valid } from '../test-helpers.ts';

test('[autoscale]: every key, normalized, and rendered back', () => {
  const { config, warnings } = valid(`
[autoscale]
  min_machines = 1
  max_machines = 6
  regions = ["iad", "syd"]
  target_concurrency = 10
  scale_up_step = 2
  scale_down_step = 1
  cooldown = "90s"
`);
  assert.deepEqual(warnings, []);
  assert.deepEqual(config.autoscale, {
    min_machines: 1,
    max_machines: 6,
    regions: ['iad', 'syd'],
    target_concurrency: 10,
    scale_up_step: 2,
    scale_down_step: 1,
    cooldown: 90_000,
  });
  assert.deepEqual(parseConfig(renderConfig(config)).config?.autoscale, config.autoscale);
});

test('[autoscale]: defaults for what is left out', () => {
  const { config } = valid('[autoscale]\n  max_machines = 3\n');
  assert.equal(config.autoscale?.min_machines, 1);
  assert.equal(config.autoscale?.cooldown, 60_000);
  assert.deepEqual(config.autoscale?.regions, []);
});

test('[autoscale]: clear errors', () => {
  const errors = invalid(`
[autoscale]
  min_machines = 5
  max_machines = 2
  regions = ["Sydney!"]
  target_concurrency = 0
  cooldown = "10"
  scale_up = 2
`);
  const text = errors.join('\n');
  assert.match(text, /min_machines \(5\) is above max_machines \(2\)/);
  assert.match(text, /"Sydney!": expected region names like "fra"/);
  assert.match(text, /target_concurrency/);
  assert.match(text, /"10" has no unit/);
  assert.match(text, /scale_up/);
});
