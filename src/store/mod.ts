/** The store: versioned keys with watches (DESIGN.md §2). Open one with `openStore`. */
import { join } from 'node:path';
import { isNearbyError } from '../errors.ts';
import { NatsStore, type NatsStoreOptions } from './nats.ts';
import { SqliteStore } from './sqlite.ts';
import type { Entry, Store } from './types.ts';

export { NatsStore, type NatsStoreOptions, type StoreLog } from './nats.ts';
export { SqliteStore } from './sqlite.ts';
export type * from './types.ts';

/** Where the store lives: a SQLite file in the data directory, or a NATS JetStream cluster. */
export type StoreLocation =
  | { dataDir: string }
  | ({ nats: readonly string[] } & Omit<NatsStoreOptions, 'servers'>);

/**
 * Opens the store: the one place that picks the backend.
 * @throws NearbyError STORE_CONFIG_INVALID or STORE_UNAVAILABLE (NATS only)
 * @example const store = await openStore({ nats: ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222'] });
 */
export async function openStore(location: StoreLocation): Promise<Store> {
  if ('nats' in location) {
    const { nats, ...options } = location;
    return NatsStore.open({ ...options, servers: nats });
  }
  return new SqliteStore(join(location.dataDir, 'state.db'));
}

/**
 * Read-modify-write with compare-and-set, retried on conflict. `change` returns the new value,
 * or `undefined` to leave the key as it is. Returns the value written (or the current one).
 */
export async function update<T>(
  store: Store,
  key: string,
  change: (current: T | undefined) => T | undefined,
): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    const current = await store.get<T>(key);
    const next = change(current?.value);
    if (next === undefined) return current?.value;
    try {
      await store.put(key, next, { expectRevision: current?.revision ?? 0 });
      return next;
    } catch (error) {
      if (!isNearbyError(error, 'STORE_CONFLICT') || attempt > 50) throw error;
    }
  }
}

/** Values of every key under `prefix`. */
export async function values<T>(store: Store, prefix: string): Promise<T[]> {
  return (await store.list<T>(prefix)).map((entry: Entry<T>) => entry.value);
}
