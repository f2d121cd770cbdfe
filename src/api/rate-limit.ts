/**
 * Token-bucket rate limits, per API token and per machine, as the Machines API has them. Over the
 * limit a request gets 429 with `Retry-After`. Limits come from `NEARBY_RATE_LIMIT_TOKEN` and
 * `NEARBY_RATE_LIMIT_MACHINE` as "PER_SECOND:BURST". With several APIs on one store, each charges
 * its buckets with what the others took too (shared-rate-limits.ts).
 */
export interface Limit {
  perSecond: number;
  burst: number;
}

export const DEFAULT_LIMITS = {
  token: { perSecond: 50, burst: 200 },
  machine: { perSecond: 10, burst: 40 },
} as const;

export function parseLimit(text: string | undefined, fallback: Limit): Limit {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+)\s*$/.exec(text ?? '');
  if (!match || Number(match[1]) <= 0 || Number(match[2]) < 1) return fallback;
  return { perSecond: Number(match[1]), burst: Number(match[2]) };
}

/** Many buckets under one limit, keyed by token id or machine id. */
export class RateLimiter {
  readonly #limit: Limit;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** Requests allowed here since the last `drainHits`, by key: what other APIs are told. */
  readonly #hits = new Map<string, number>();

  constructor(limit: Limit) {
    this.#limit = limit;
  }

  /** Takes one request from `key`'s bucket: 0 when allowed, else the seconds to wait. */
  take(key: string, now = Date.now()): number {
    const bucket = this.#refilled(key, now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      this.#hits.set(key, (this.#hits.get(key) ?? 0) + 1);
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#limit.perSecond));
  }

  /**
   * Takes `count` requests another API allowed for `key`: the bucket may go into debt, down to
   * one burst below empty, so a key spread over several APIs gets the limit once, not once per API.
   */
  charge(key: string, count: number, now = Date.now()): void {
    const bucket = this.#refilled(key, now);
    bucket.tokens = Math.max(-this.#limit.burst, bucket.tokens - count);
  }

  /** What this limiter allowed since the last call, by key; starts counting afresh. */
  drainHits(): Map<string, number> {
    const hits = new Map(this.#hits);
    this.#hits.clear();
    return hits;
  }

  #refilled(key: string, now: number): { tokens: number; at: number } {
    const { perSecond, burst } = this.#limit;
    const bucket = this.#buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(
      burst,
      bucket.tokens + ((Math.max(now, bucket.at) - bucket.at) / 1000) * perSecond,
    );
    bucket.at = Math.max(now, bucket.at);
    if (this.#buckets.size >= 100_000) this.#forgetFull(now);
    this.#buckets.set(key, bucket);
    return bucket;
  }

  // Buckets that have refilled carry no information: drop them so memory stays bounded.
  #forgetFull(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.#limit.perSecond >= this.#limit.burst) {
        this.#buckets.delete(key);
      }
    }
  }
}
