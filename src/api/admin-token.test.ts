/** A shared store's admin token: the first API makes it and writes it out; others never replace it. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../store/mod.ts';
import { authenticate, claimAdminToken } from './auth.ts';

test('the first API makes the admin token; a second one, or a restart without the file, keeps it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-admin-token-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const [first, second] = await Promise.all([
    claimAdminToken(store, join(dir, 'a', 'admin-token')),
    claimAdminToken(store, join(dir, 'b', 'admin-token')),
  ]);
  const made = [first, second].filter((claim) => claim.created);
  assert.equal(made.length, 1, 'exactly one API made it');
  const secret = made[0].secret as string;
  const file = first.created ? join(dir, 'a', 'admin-token') : join(dir, 'b', 'admin-token');
  assert.equal(readFileSync(file, 'utf8').trim(), secret);
  assert.equal((first.created ? second : first).secret, undefined, 'the other API does not know it');
  assert.equal((await authenticate(store, `Bearer ${secret}`)).kind, 'admin');

  // Restarted with its file: it knows the token again, and nothing changed.
  assert.deepEqual(await claimAdminToken(store, file), { secret, created: false });
  assert.equal((await authenticate(store, `Bearer ${secret}`)).kind, 'admin');
});
