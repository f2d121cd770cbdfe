/** The store: versioned keys with watches (DESIGN.md §2). Open one with `openStore`. */
import { join } from 'node:path';
import { isNearbyError } from '../errors.ts';
import { SqliteStore } from './sqlite.ts';
import type { Entry, Store } from './types.ts';

export { SqliteStore } from './sqlite.ts';
export type * from './types.ts';

export function openStore(dataDir: string): Store {
  return new SqliteStore(join(dataDir, 'state.db'));
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
