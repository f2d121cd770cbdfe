import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PullTally, throttle } from './pull-progress.ts';

test('a pull tally sums running byte counts over layers, cached layers counting as done', () => {
  const tally = new PullTally([
    { digest: 'sha256:a', size: 100 },
    { digest: 'sha256:b', size: 300 },
    { digest: 'sha256:c', size: 600 },
  ]);
  assert.deepEqual(tally.totals, { done_bytes: 0, total_bytes: 1000, layers_done: 0, layers_total: 3 });
  tally.complete('sha256:a');
  tally.progress('sha256:b', 120);
  tally.progress('sha256:c', 50);
  tally.progress('sha256:b', 200);
  assert.deepEqual(tally.totals, { done_bytes: 350, total_bytes: 1000, layers_done: 1, layers_total: 3 });
  tally.progress('sha256:zzz', 999);
  tally.complete('sha256:zzz');
  tally.complete('sha256:b');
  tally.progress('sha256:b', 10);
  assert.deepEqual(tally.totals, { done_bytes: 450, total_bytes: 1000, layers_done: 2, layers_total: 3 });
  tally.completeAll();
  assert.deepEqual(tally.totals, { done_bytes: 1000, total_bytes: 1000, layers_done: 3, layers_total: 3 });
});

test('a layer listed twice counts once', () => {
  const tally = new PullTally([
    { digest: 'sha256:a', size: 100 },
    { digest: 'sha256:a', size: 100 },
  ]);
  tally.progress('sha256:a', 40);
  assert.deepEqual(tally.totals, { done_bytes: 40, total_bytes: 100, layers_done: 0, layers_total: 1 });
});

test('throttle sends the first value at once, then only the latest, in order, and flushes the last', async () => {
  const sent: number[] = [];
  const errors: unknown[] = [];
  const throttled = throttle(
    async (value: number) => {
      if (value === 3) throw new Error('store is down');
      sent.push(value);
    },
    60_000,
    (error) => errors.push(error),
  );
  for (let value = 1; value <= 5; value++) throttled.update(value);
  await throttled.flush();
  assert.deepEqual(sent, [1, 5], 'the first at once, the rest collapsed into the latest at flush');
  await throttled.flush();
  assert.deepEqual(sent, [1, 5], 'nothing new, nothing sent');

  const seven = Promise.withResolvers<void>();
  const later = throttle(async (value: number) => {
    sent.push(value);
    if (value === 7) seven.resolve();
  }, 10);
  later.update(6);
  later.update(7);
  await seven.promise;
  assert.deepEqual(sent, [1, 5, 6, 7], 'a value held back is sent once the interval has passed');
  later.update(8);
  await later.flush();
  assert.deepEqual(sent, [1, 5, 6, 7, 8]);

  const failing = throttle(
    async (value: number) => {
      if (value === 1) throw new Error('store is down');
      sent.push(value);
    },
    0,
    (error) => errors.push(error),
  );
  failing.update(1);
  failing.update(9);
  await failing.flush();
  assert.equal(errors.length, 1, 'the failed send was reported');
  assert.deepEqual(sent.at(-1), 9, 'a failed send does not stop later ones');
});
