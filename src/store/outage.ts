/**
 * How a long-lived loop lives through the store going away (DESIGN.md §2, "fail static"): which
 * errors mean "away, try again" (not "wrong"), a jittered backoff, and a log line once when the
 * store is lost and once when it is back, however many calls failed in between.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, isNearbyError } from '../errors.ts';

/** What a loop logs about the store (pino's shape). */
export interface OutageLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/** The store did not answer (no server, or no answer in time): the same call may work later. */
export function isStoreAway(error: unknown): boolean {
  return isNearbyError(error, 'STORE_UNAVAILABLE') || isNearbyError(error, 'STORE_TIMEOUT');
}

/** 0.1 s doubling to 5 s, each with ±50 % jitter so that many loops do not retry in step. */
export function backoffMs(attempt: number): number {
  return Math.min(5000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
}

/** Sleeps `backoffMs(attempt)`, or less if `signal` aborts first (never throws). */
export async function backoff(attempt: number, signal?: AbortSignal): Promise<void> {
  await sleep(backoffMs(attempt), undefined, { signal }).catch(() => {});
}

/** One loop's view of the store: logs the first failure of an outage and the first success after. */
export class StoreOutage {
  readonly #log: OutageLog;
  readonly #what: string;
  #since: number | undefined;

  /** `what` names the loop in the log lines ("agent reconciler", "proxy mirror of machines/"). */
  constructor(log: OutageLog, what: string) {
    this.#log = log;
    this.#what = what;
  }

  get away(): boolean {
    return this.#since !== undefined;
  }

  lost(error: unknown): void {
    if (this.#since !== undefined) return;
    this.#since = Date.now();
    this.#log.warn(
      { loop: this.#what, err: errorMessage(error) },
      `${this.#what} lost the store; keeps going on what it knows and will retry`,
    );
  }

  back(): void {
    if (this.#since === undefined) return;
    const awayMs = Date.now() - this.#since;
    this.#since = undefined;
    this.#log.info({ loop: this.#what, awayMs }, `${this.#what} has the store back`);
  }
}

/**
 * Runs `call` until it succeeds, retrying with backoff while the store is away; other errors are
 * thrown at once. Returns `undefined` if `signal` aborts first.
 */
export async function untilStoreAnswers<T>(
  call: () => Promise<T>,
  outage: StoreOutage,
  signal?: AbortSignal,
): Promise<T | undefined> {
  for (let attempt = 0; !signal?.aborted; attempt++) {
    try {
      const result = await call();
      outage.back();
      return result;
    } catch (error) {
      if (!isStoreAway(error)) throw error;
      outage.lost(error);
      await backoff(attempt, signal);
    }
  }
  return undefined;
}
