/**
 * Leases for singletons (DESIGN.md §2): one holder at a time of `leases/<name>` does the work (the
 * ACME cert manager, autostop in a region), the others wait. A lease is taken and renewed by
 * compare-and-set on the key's revision, so two contenders never both win; a holder that stops
 * renewing (it died, or lost the store) loses it once `expires_at` has passed, and itself stops
 * acting a margin before that, by its own clock, so that the next holder never overlaps it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { errorMessage, isNearbyError } from '../errors.ts';
import { keys } from '../model/keys.ts';
import type { LeaseRecord } from '../model/lease.ts';
import { follow } from './follow.ts';
import { backoffMs, isStoreAway, StoreOutage } from './outage.ts';
import type { Store } from './types.ts';

export interface LeaseOptions {
  store: Store;
  /** `certs`, `autostop/fra`: the key is `leases/<name>`. */
  name: string;
  /** Who asks; must differ between contenders (host name, or host and pid). */
  holder: string;
  /** How long a take or renewal lasts without the next one. */
  ttlMs?: number;
  log: Pick<pino.Logger, 'info' | 'warn'>;
  /** Stops trying; a lease held is released. */
  signal: AbortSignal;
  /** Called when this holder starts or stops holding it (to start work at once). */
  onChange?: (held: boolean) => void;
}

export interface Lease {
  readonly name: string;
  /** Whether this holder may act now: it holds the lease and its term has not run out. */
  held(): boolean;
  /** Resolves once the lease is given up (after `signal` aborts) and released if it was held. */
  readonly done: Promise<void>;
}

export const leaseDefaults = { ttlMs: 15_000 };

/** What the holder allows for clocks that disagree: it stops acting this long before `expires_at`. */
const skewMarginMs = (ttlMs: number) => Math.min(2_000, ttlMs / 4);

/**
 * Keeps trying to take the lease and, once held, renews it every third of its TTL until `signal`.
 * @example
 *   const lease = holdLease({ store, name: 'certs', holder: host, log, signal });
 *   if (lease.held()) await renewCertificates();
 */
export function holdLease(options: LeaseOptions): Lease {
  const { store, name, holder, log, signal } = options;
  const ttlMs = options.ttlMs ?? leaseDefaults.ttlMs;
  const key = keys.lease(name);
  const outage = new StoreOutage(log, `lease ${name}`);
  /** Until when (local clock) this holder may act, and the revision its last write got. */
  let term: { until: number; revision: number } | undefined;
  const held = () => term !== undefined && Date.now() < term.until;
  let wasHeld = false;
  const report = () => {
    const now = held();
    if (now !== wasHeld)
      log.info({ lease: name, holder }, now ? `holding lease ${name}` : `lost lease ${name}`);
    wasHeld = now;
  };

  /** One attempt: take or renew. Returns how long to wait before the next. */
  async function attempt(): Promise<number> {
    const asked = Date.now();
    const current = await store.get<LeaseRecord>(key);
    const ours = current?.value.holder === holder;
    if (current !== undefined && !ours && Date.parse(current.value.expires_at) > asked) {
      term = undefined;
      // Held by another: look again when it would lapse, or sooner (it may be released).
      return Math.min(Date.parse(current.value.expires_at) - asked + 10, ttlMs / 3);
    }
    const record: LeaseRecord = {
      holder,
      expires_at: new Date(asked + ttlMs).toISOString(),
      taken_at: ours && current ? current.value.taken_at : new Date(asked).toISOString(),
    };
    try {
      const revision = await store.put(key, record, { expectRevision: current?.revision ?? 0 });
      term = { until: asked + ttlMs - skewMarginMs(ttlMs), revision };
      return ttlMs / 3;
    } catch (error) {
      if (!isNearbyError(error, 'STORE_CONFLICT')) throw error;
      term = undefined; // another contender wrote first
      return 10 + Math.random() * 50;
    }
  }

  // A released lease is taken at once, not at the next look: the key's delete wakes the loop.
  let wake = () => {};
  void (async () => {
    for await (const event of follow(store, key, { signal, log, what: `lease ${name} watch` })) {
      if (event.type === 'delete' && event.key === key) wake();
    }
  })();
  const done = (async () => {
    let failures = 0;
    while (!signal.aborted) {
      let waitMs: number;
      try {
        waitMs = await attempt();
        outage.back();
        failures = 0;
      } catch (error) {
        // A term already won runs out on its own: the holder acts on until then, not after.
        if (isStoreAway(error)) outage.lost(error);
        else log.warn({ lease: name, err: errorMessage(error) }, `lease ${name}: could not take or renew`);
        waitMs = backoffMs(failures++);
        if (term !== undefined) waitMs = Math.min(waitMs, Math.max(0, term.until - Date.now()));
      }
      report();
      await new Promise<void>((resolve) => {
        wake = resolve;
        sleep(waitMs, undefined, { signal }).then(resolve, resolve);
      });
      report();
    }
    const last = term;
    term = undefined;
    report();
    // Released at once rather than left to lapse: the next holder starts without waiting a TTL.
    if (last !== undefined) await store.delete(key, { expectRevision: last.revision }).catch(() => {});
  })();
  return { name, held, done };
}

/** Who holds `leases/<name>` now, if anyone (for status displays and tests). */
export async function leaseHolder(store: Store, name: string): Promise<string | undefined> {
  const entry = await store.get<LeaseRecord>(keys.lease(name));
  if (entry === undefined || Date.parse(entry.value.expires_at) <= Date.now()) return undefined;
  return entry.value.holder;
}
