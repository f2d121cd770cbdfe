import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseLimit, RateLimiter } from './rate-limit.ts';

test('a bucket allows its burst, then asks the caller to wait, then refills', () => {
  const limiter = new RateLimiter({ perSecond: 2, burst: 3 });
  const now = 1_000_000;
  assert.deepEqual(
    [0, 1, 2].map(() => limiter.take('t', now)),
    [0, 0, 0],
  );
  assert.equal(limiter.take('t', now), 1);
  assert.equal(limiter.take('other', now), 0, 'buckets are per key');
  assert.equal(limiter.take('t', now + 500), 0, 'half a second refills one request at 2/s');
});

test('limits are read as PER_SECOND:BURST, anything else keeps the default', () => {
  const fallback = { perSecond: 1, burst: 1 };
  assert.deepEqual(parseLimit('5:20', fallback), { perSecond: 5, burst: 20 });
  assert.deepEqual(parseLimit('0.5:2', fallback), { perSecond: 0.5, burst: 2 });
  assert.equal(parseLimit('fast', fallback), fallback);
  assert.equal(parseLimit(undefined, fallback), fallback);
});

test('what other APIs allowed is charged, into debt of at most one burst; hits are drained once', () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 4 });
  const now = 1_000_000;
  assert.equal(limiter.take('t', now), 0);
  assert.equal(limiter.take('t', now), 0);
  assert.deepEqual([...limiter.drainHits()], [['t', 2]]);
  assert.deepEqual([...limiter.drainHits()], [], 'counted once');
  limiter.charge('t', 100, now);
  assert.equal(limiter.take('t', now), 5, 'four in debt: five seconds until one is back');
  assert.equal(limiter.take('t', now + 5_000), 0);
  assert.deepEqual([...limiter.drainHits()], [['t', 1]], 'refusals are not hits');
});
