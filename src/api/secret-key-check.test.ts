import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../store/mod.ts';
import { checkSecretKey } from './secret-key-check.ts';

test("the store remembers the first API's secrets key; another key is refused, naming the file to copy", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-secret-key-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const key = randomBytes(32);
  await checkSecretKey(store, key, '/srv/api-1');
  await checkSecretKey(store, Buffer.from(key), '/srv/api-2');
  await assert.rejects(
    checkSecretKey(store, randomBytes(32), '/srv/api-3'),
    (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'SECRET_KEY_MISMATCH');
      assert.match(error.message, /\/srv\/api-3\/secrets\.key/);
      assert.match(error.hint ?? '', /copy secrets\.key from the data dir of the first `nearby api`/);
      return true;
    },
  );
});
