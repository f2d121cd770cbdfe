import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { MachineConfig, MachineView } from '../../model/mod.ts';
import { batchSize, type GroupPlan, inPool, refuseUnfitStrategy } from './strategies.ts';

test('max_unavailable: a fraction of the group (at least one machine), or a count', () => {
  assert.equal(batchSize(1, 5), 1);
  assert.equal(batchSize(3, 5), 3);
  assert.equal(batchSize(0.5, 5), 2);
  assert.equal(batchSize(0.33, 9), 2);
  assert.equal(batchSize(0.1, 3), 1);
});

test('inPool runs at most `limit` tasks at once and every item once', async () => {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  await inPool([1, 2, 3, 4, 5, 6, 7], 3, undefined, async (item) => {
    running++;
    peak = Math.max(peak, running);
    await delay(5);
    done.push(item);
    running--;
  });
  assert.equal(peak, 3);
  assert.deepEqual(
    done.sort((a, b) => a - b),
    [1, 2, 3, 4, 5, 6, 7],
  );
});

test('inPool starts nothing new after a failure, lets the running ones finish, then throws it', async () => {
  const started: number[] = [];
  const finished: number[] = [];
  await assert.rejects(
    inPool([1, 2, 3, 4, 5], 2, undefined, async (item) => {
      started.push(item);
      if (item === 1) throw new Error('machine 1 failed its checks');
      await delay(20);
      finished.push(item);
    }),
    /machine 1 failed its checks/,
  );
  assert.deepEqual(started, [1, 2]);
  assert.deepEqual(finished, [2], 'the one in flight finished');
});

test('inPool stops starting work once the signal is aborted (Ctrl-C)', async () => {
  const controller = new AbortController();
  const started: number[] = [];
  await assert.rejects(
    inPool([1, 2, 3], 1, controller.signal, async (item) => {
      started.push(item);
      controller.abort();
    }),
    { name: 'AbortError' },
  );
  assert.deepEqual(started, [1]);
});

const plan = (config: Partial<MachineConfig>, machines = 2): GroupPlan => ({
  group: 'app',
  config: { image: 'hello:1', ...config },
  machines: Array.from({ length: machines }, (_, i) => ({ id: `m${i}` }) as MachineView),
  createCount: 2,
});

test('bluegreen needs health checks on the services; canary and bluegreen refuse volumes', () => {
  const service = { protocol: 'tcp' as const, internal_port: 8080 };
  assert.throws(() => refuseUnfitStrategy([plan({ services: [service] })], 'bluegreen'), {
    code: 'BLUEGREEN_NEEDS_CHECKS',
    message: /process group "app" have none/,
  });
  refuseUnfitStrategy([plan({ services: [{ ...service, checks: [{ type: 'tcp' }] }] })], 'bluegreen');
  refuseUnfitStrategy(
    [plan({ services: [service], checks: { alive: { type: 'http', path: '/' } } })],
    'bluegreen',
  );
  refuseUnfitStrategy([plan({ services: [service] })], 'rolling');
  const mounts = [{ name: 'data', path: '/data' }];
  assert.throws(() => refuseUnfitStrategy([plan({ mounts } as Partial<MachineConfig>)], 'canary'), {
    code: 'STRATEGY_NEEDS_NO_VOLUMES',
  });
  refuseUnfitStrategy([plan({ mounts } as Partial<MachineConfig>)], 'rolling');
});
