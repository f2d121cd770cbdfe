/**
 * Rate limits across several APIs on one store. Each API decides alone, at once, from its own
 * buckets (no store round trip on a request); once a second it writes what it allowed since
 * (`rate-usage/<api>`: hits per bucket), and charges its buckets with what every other API wrote.
 * A token spread over N APIs so gets its limit once, give or take one second of requests per API;
 * a store outage only makes the limits local until it is back.
 */
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { keys } from '../model/mod.ts';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/mod.ts';
import type { RateLimiter } from './rate-limit.ts';

/** `rate-usage/<api>`: requests one API allowed in its last interval, by limiter and key. */
export interface RateUsageRecord {
  api: string;
  at: string;
  /** `<limiter>/<key>` → requests allowed. */
  hits: Record<string, number>;
}

export interface RateShareOptions {
  store: Store;
  /** This API's name among the store's APIs (stable across restarts: host and port). */
  api: string;
  limiters: Record<string, RateLimiter>;
  intervalMs?: number;
  log: pino.Logger;
  signal: AbortSignal;
}

export const RATE_SHARE_INTERVAL_MS = 1_000;

/** Runs until `signal` aborts; then removes this API's record. */
export async function shareRateLimits(options: RateShareOptions): Promise<void> {
  const { store, api, limiters, log, signal } = options;
  const intervalMs = options.intervalMs ?? RATE_SHARE_INTERVAL_MS;
  const watching = chargeOthers(options);
  let wrote = false;
  const timer = setInterval(() => {
    const hits: Record<string, number> = {};
    for (const [name, limiter] of Object.entries(limiters)) {
      for (const [key, count] of limiter.drainHits()) hits[`${name}/${key}`] = count;
    }
    // Nothing allowed and nothing said last time: nothing to tell (idle APIs write nothing).
    if (Object.keys(hits).length === 0 && !wrote) return;
    wrote = Object.keys(hits).length > 0;
    const record: RateUsageRecord = { api, at: new Date().toISOString(), hits };
    store.put(keys.rateUsage(api), record).catch((error) => {
      log.debug(
        { error: errorMessage(error) },
        'could not share rate-limit usage; limits stay local meanwhile',
      );
    });
  }, intervalMs);
  timer.unref();
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(timer);
  await watching;
  await store.delete(keys.rateUsage(api)).catch(() => {});
}

async function chargeOthers(options: RateShareOptions): Promise<void> {
  const { store, api, limiters, signal } = options;
  let synced = false;
  for await (const event of follow<RateUsageRecord>(store, keys.rateUsages(), {
    signal,
    log: options.log,
    what: 'rate-limit sharing',
  })) {
    if (event.type === 'synced') synced = true;
    // What others allowed before this API started is in its own buckets' past: not charged.
    if (!synced || event.type !== 'put' || event.value.api === api) continue;
    for (const [bucket, count] of Object.entries(event.value.hits)) {
      const cut = bucket.indexOf('/');
      const limiter = limiters[bucket.slice(0, cut)];
      if (limiter !== undefined && Number.isFinite(count) && count > 0)
        limiter.charge(bucket.slice(cut + 1), count);
    }
  }
}
