/**
 * An in-memory copy of every key under a store prefix, kept current by a watch. After a watch
 * error it starts over from a full listing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { Store } from '../store/types.ts';

export interface MirroredEntry<T> {
  value: T;
  revision: number;
}

export class StoreMirror<T> {
  readonly prefix: string;
  readonly entries = new Map<string, MirroredEntry<T>>();
  /** The newest store revision this copy reflects for its prefix. */
  revision = 0;
  /** Resolves once the first full listing is in. */
  readonly synced: Promise<void>;
  #store: Store;
  #signal: AbortSignal;
  #onChange: () => void;
  #log: pino.Logger;
  #markSynced: () => void = () => {};

  constructor(store: Store, prefix: string, signal: AbortSignal, onChange: () => void, log: pino.Logger) {
    this.#store = store;
    this.prefix = prefix;
    this.#signal = signal;
    this.#onChange = onChange;
    this.#log = log;
    this.synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
    void this.#loop();
  }

  values(): T[] {
    return [...this.entries.values()].map((entry) => entry.value);
  }

  async #loop() {
    while (!this.#signal.aborted) {
      // Values arrive before `synced`; they replace the copy at once, so deletes missed while
      // the watch was down disappear too.
      let pending: Map<string, MirroredEntry<T>> | undefined = new Map();
      try {
        for await (const event of this.#store.watch<T>(this.prefix, { signal: this.#signal })) {
          if (event.type === 'synced') {
            this.entries.clear();
            for (const [key, entry] of pending ?? []) this.entries.set(key, entry);
            pending = undefined;
            this.revision = Math.max(this.revision, event.revision);
            this.#markSynced();
          } else {
            const target = pending ?? this.entries;
            if (event.type === 'put') target.set(event.key, { value: event.value, revision: event.revision });
            else target.delete(event.key);
            if (pending === undefined) this.revision = Math.max(this.revision, event.revision);
          }
          if (pending === undefined) this.#onChange();
        }
      } catch (error) {
        if (this.#signal.aborted) return;
        this.#log.warn(
          { prefix: this.prefix, err: errorMessage(error) },
          'store watch failed; watching again',
        );
      }
      await sleep(500, undefined, { signal: this.#signal }).catch(() => {});
    }
  }
}

/** Whether `mirror` holds every change its prefix had at `revision` (a change after it is fine). */
export async function mirrorCaughtUp(
  store: Store,
  mirror: { prefix: string; revision: number; entries: ReadonlyMap<string, { revision: number }> },
  revision: number,
): Promise<boolean> {
  if (mirror.revision >= revision) return true;
  // Nothing newer seen under this prefix: caught up if the copy equals the store's listing now.
  const listed = await store.list(mirror.prefix);
  return (
    listed.length === mirror.entries.size &&
    listed.every((entry) => mirror.entries.get(entry.key)?.revision === entry.revision)
  );
}
