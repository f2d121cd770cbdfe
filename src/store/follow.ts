/**
 * A watch that never ends on a store error: the iterator long-lived loops use. After any failure it
 * waits (jittered backoff) and watches again after the last revision it delivered, so its consumer
 * sees one unbroken stream: nothing lost, nothing repeated, one `synced`. Where the store no longer
 * keeps that far back (STORE_COMPACTED) it takes a fresh snapshot and turns keys that vanished
 * meanwhile into `delete` events. It ends only when `signal` aborts.
 */
import { isNearbyError } from '../errors.ts';
import { backoff, type OutageLog, StoreOutage } from './outage.ts';
import type { Store, WatchEvent } from './types.ts';

export interface FollowOptions {
  signal: AbortSignal;
  log: OutageLog;
  /** Names the loop in its two log lines (lost, back). */
  what: string;
}

export async function* follow<T>(
  store: Store,
  prefix: string,
  options: FollowOptions,
): AsyncGenerator<WatchEvent<T>> {
  const { signal } = options;
  const outage = new StoreOutage(options.log, options.what);
  /** Keys delivered and not deleted: what a fresh snapshot is compared with. */
  const known = new Set<string>();
  let revision: number | undefined;
  let synced = false;
  for (let attempt = 0; !signal.aborted; ) {
    /** Keys seen in this run's snapshot, when it is a fresh one after keys were delivered. */
    const seen = revision === undefined && known.size > 0 ? new Set<string>() : undefined;
    let snapshotDone = revision !== undefined;
    try {
      const watch = store.watch<T>(prefix, {
        signal,
        ...(revision === undefined ? {} : { afterRevision: revision }),
      });
      for await (const event of watch) {
        outage.back();
        attempt = 0;
        if (event.type === 'synced') {
          snapshotDone = true;
          revision = Math.max(revision ?? 0, event.revision);
          for (const key of seen === undefined ? [] : [...known]) {
            if (seen?.has(key)) continue;
            known.delete(key);
            yield { type: 'delete', key, revision: event.revision };
          }
          if (!synced) yield event;
          synced = true;
          continue;
        }
        if (event.type === 'put') known.add(event.key);
        else known.delete(event.key);
        seen?.add(event.key);
        // Snapshot values carry their own (older) revisions: resume only from a whole snapshot.
        if (snapshotDone) revision = Math.max(revision ?? 0, event.revision);
        yield event;
      }
      if (signal.aborted) return;
      throw new Error('the watch ended');
    } catch (error) {
      if (signal.aborted) return;
      if (isNearbyError(error, 'STORE_COMPACTED')) revision = undefined;
      else if (!snapshotDone) revision = undefined;
      outage.lost(error);
      await backoff(attempt++, signal);
    }
  }
}
