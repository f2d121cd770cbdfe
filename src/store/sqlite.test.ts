import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { storeContract } from '../../test/helpers/store-contract.ts';
import { isNearbyError } from '../errors.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'nearby-store-'));
const open: Store[] = [];
after(async () => {
  await Promise.all(open.map((store) => store.close().catch(() => {})));
  rmSync(dir, { recursive: true, force: true });
});

storeContract('sqlite', async ({ name, streamSize }) => {
  const store = new SqliteStore(join(dir, `${name}.db`), streamSize ? { streamSize } : {});
  open.push(store);
  return store;
});

test('sqlite: a watch from a revision older than the change log says so', async () => {
  const store = new SqliteStore(join(dir, 'compacted.db'), { changeLogSize: 10 });
  open.push(store);
  for (let i = 0; i < 1000; i++) await store.put(`k/${i % 7}`, i);
  assert.throws(
    () => store.watch('k/', { afterRevision: 1 }),
    (e) => isNearbyError(e, 'STORE_COMPACTED'),
  );
});
