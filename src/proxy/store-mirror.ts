/**
 * An in-memory copy of every key under a store prefix, kept current by a watch that outlives the
 * store going away (`follow`): while it is away the copy stays as it was.
 */
import type pino from 'pino';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/types.ts';

export interface MirroredEntry<T> {
  value: T;
  revision: number;
}

/** One key changed: its value before and after (undefined when absent). None: the whole copy may have. */
export interface MirrorChange<T> {
  key: string;
  before?: T;
  after?: T;
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
  #onChange: (change?: MirrorChange<T>) => void;
  #log: pino.Logger;
  #markSynced: () => void = () => {};

  constructor(
    store: Store,
    prefix: string,
    signal: AbortSignal,
    onChange: (change?: MirrorChange<T>) => void,
    log: pino.Logger,
  ) {
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
    // Values arrive before `synced`: the copy is served from only once it is whole. After that a
    // lost store changes nothing here (fail static: the proxy keeps routing on this copy), and
    // `follow` resumes after the last revision seen, so the copy catches up with nothing lost.
    let pending: Map<string, MirroredEntry<T>> | undefined = new Map();
    const changes = follow<T>(this.#store, this.prefix, {
      signal: this.#signal,
      log: this.#log,
      what: `proxy mirror of ${this.prefix}`,
    });
    for await (const event of changes) {
      let change: MirrorChange<T> | undefined;
      if (event.type === 'synced') {
        for (const [key, entry] of pending ?? []) this.entries.set(key, entry);
        pending = undefined;
        this.revision = Math.max(this.revision, event.revision);
        this.#markSynced();
      } else {
        const target = pending ?? this.entries;
        change = { key: event.key, before: target.get(event.key)?.value };
        if (event.type === 'put') {
          target.set(event.key, { value: event.value, revision: event.revision });
          change.after = event.value;
        } else target.delete(event.key);
        if (pending === undefined) this.revision = Math.max(this.revision, event.revision);
      }
      if (pending === undefined) this.#onChange(change);
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
