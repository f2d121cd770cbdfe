import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invalid, valid } from '../test-helpers.ts';

test('[[vm]] resolves presets, then cpus / cpu_kind / memory override them', () => {
  const { config } = valid(`
[[vm]]
  size = "shared-cpu-2x"
  memory = "1gb"
  processes = ["app"]
[[vm]]
  size = "performance-1x"
  cpus = 2
  processes = ["worker"]
[[vm]]
  memory_mb = 512
[processes]
  app = "run"
  worker = "work"
`);
  assert.deepEqual(config.vm, [
    { size: 'shared-cpu-2x', cpu_kind: 'shared', cpus: 2, memory_mb: 1024, processes: ['app'] },
    { size: 'performance-1x', cpu_kind: 'performance', cpus: 2, memory_mb: 2048, processes: ['worker'] },
    { cpu_kind: 'shared', cpus: 1, memory_mb: 512, processes: [] },
  ]);
});

test('[vm] as one table and the dotted vm.size shorthand are read like [[vm]]', () => {
  assert.equal(valid('[vm]\nmemory = "512mb"\n').config.vm[0].memory_mb, 512);
  assert.equal(valid('vm.size = "shared-cpu-4x"\n').config.vm[0].memory_mb, 1024);
  assert.equal(valid('[[vm]]\nmemory = 2048\n').config.vm[0].memory_mb, 2048, 'a bare number is MB');
});

test('GPU keys are kept and reported as not supported yet', () => {
  const { config, warnings } = valid('[[vm]]\nsize = "l40s"\ngpus = 1\n');
  assert.deepEqual(config.vm[0], {
    size: 'l40s',
    cpu_kind: 'performance',
    cpus: 8,
    memory_mb: 32768,
    gpus: 1,
    processes: [],
  });
  assert.deepEqual(warnings, [
    '[vm[0]] size: not supported yet — GPU size "l40s"; the machine gets its CPUs and memory, without a GPU',
    '[vm[0]] gpus: not supported yet — nearby hosts have no GPUs to hand to machines',
  ]);
});

test('[[vm]] mistakes', () => {
  assert.deepEqual(invalid('[[vm]]\nsize = "shared-cpu-1"\nmemory = "lots"\ncpu_kind = "fast"\ncpus = 0\n'), [
    '[vm[0]] size: unknown size "shared-cpu-1": expected a preset like "shared-cpu-1x", "shared-cpu-2x", "performance-1x" (did you mean "shared-cpu-1x"?)',
    '[vm[0]] memory: expected a size like "512mb" or "1gb" (or a number of MB), got "lots"',
    '[vm[0]] cpu_kind: expected one of "shared", "performance", got "fast"',
    '[vm[0]] cpus: expected an integer 1–64, got 0',
  ]);
  assert.deepEqual(invalid('[[vm]]\nmemory = "1gb"\nprocesses = ["web"]\n'), [
    '[vm[0]] processes: unknown process group "web": without [processes] the only group is "app"',
  ]);
});
