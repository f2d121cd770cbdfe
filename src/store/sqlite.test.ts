import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { update } from './mod.ts';
import { SqliteStore } from './sqlite.ts';
import type { WatchEvent } from './types.ts';

function tempStore() {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-store-'));
  const path = join(dir, 'state.db');
  return { path, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('values survive reopening, with revisions', async (t) => {
  const { path, cleanup } = tempStore();
  t.after(cleanup);
  let store = new SqliteStore(path);
  const r1 = await store.put('apps/a', { name: 'a' });
  const r2 = await store.put('apps/b', { name: 'b' });
  assert.ok(r2 > r1);
  await store.close();
  store = new SqliteStore(path);
  assert.deepEqual((await store.get('apps/a'))?.value, { name: 'a' });
  assert.deepEqual(
    (await store.list('apps/')).map((e) => e.key),
    ['apps/a', 'apps/b'],
  );
  assert.ok((await store.put('apps/c', {})) > r2, 'revisions keep growing after a restart');
  await store.close();
});

test('compare-and-set refuses a stale revision', async (t) => {
  const { path, cleanup } = tempStore();
  t.after(cleanup);
  const store = new SqliteStore(path);
  t.after(() => store.close());
  const rev = await store.put('k', 1, { expectRevision: 0 });
  await assert.rejects(store.put('k', 2, { expectRevision: 0 }), (e) => isNearbyError(e, 'STORE_CONFLICT'));
  await store.put('k', 3, { expectRevision: rev });
  assert.equal((await store.get('k'))?.value, 3);
  await Promise.all([1, 2, 3, 4, 5].map(() => update<number>(store, 'n', (n) => (n ?? 0) + 1)));
  assert.equal((await store.get('n'))?.value, 5);
});

test('watch delivers the current values, synced, then changes; and resumes from a revision', async (t) => {
  const { path, cleanup } = tempStore();
  t.after(cleanup);
  const store = new SqliteStore(path);
  t.after(() => store.close());
  await store.put('machines/a/1', { n: 1 });
  await store.put('other/x', {});
  const controller = new AbortController();
  const seen: WatchEvent[] = [];
  const done = (async () => {
    for await (const event of store.watch('machines/', { signal: controller.signal })) {
      seen.push(event);
      if (event.type === 'delete') controller.abort();
    }
  })();
  const r = await store.put('machines/a/2', { n: 2 });
  await store.put('apps/z', {});
  await store.delete('machines/a/1');
  await done;
  assert.deepEqual(
    seen.map((e) => (e.type === 'synced' ? 'synced' : `${e.type} ${e.key}`)),
    ['put machines/a/1', 'synced', 'put machines/a/2', 'delete machines/a/1'],
  );
  const resumed: string[] = [];
  const resume = new AbortController();
  for await (const event of store.watch('machines/', { afterRevision: r, signal: resume.signal })) {
    resumed.push(event.type === 'synced' ? 'synced' : `${event.type} ${event.key}`);
    resume.abort();
  }
  assert.deepEqual(resumed, ['delete machines/a/1']);
});

test('streams keep messages in order and follow new ones', async (t) => {
  const { path, cleanup } = tempStore();
  t.after(cleanup);
  const store = new SqliteStore(path);
  t.after(() => store.close());
  await store.append('logs.a.fra.1', 'one');
  await store.append('logs.b.fra.1', 'other app');
  await store.append('logs.a.fra.2', 'two');
  const past: unknown[] = [];
  for await (const m of store.read('logs.a.')) past.push(m.data);
  assert.deepEqual(past, ['one', 'two']);
  const controller = new AbortController();
  const followed: unknown[] = [];
  const done = (async () => {
    for await (const m of store.read('logs.a.', { follow: true, tail: 1, signal: controller.signal })) {
      followed.push(m.data);
      if (m.data === 'three') controller.abort();
    }
  })();
  await store.append('logs.a.fra.1', 'three');
  await done;
  assert.deepEqual(followed, ['two', 'three']);
});

test('appendAll writes a batch in order, followers see each message, and the stream stays trimmed', async (t) => {
  const { path, cleanup } = tempStore();
  t.after(cleanup);
  const store = new SqliteStore(path, { streamSize: 100 });
  t.after(() => store.close());
  assert.equal(await store.appendAll('logs.a.fra.1', []), 0);
  const controller = new AbortController();
  const followed: unknown[] = [];
  const done = (async () => {
    for await (const m of store.read('logs.a.', { follow: true, signal: controller.signal })) {
      followed.push(m.data);
      if (m.data === 'line 5999') controller.abort();
    }
  })();
  const lines = Array.from({ length: 6000 }, (_, i) => `line ${i}`);
  const last = await store.appendAll('logs.a.fra.1', lines);
  assert.equal(last, 6000);
  await done;
  assert.deepEqual(followed, lines);
  // Crossing seq 5000 inside the batch trimmed the stream to its last 100 messages.
  const kept: unknown[] = [];
  for await (const m of store.read('logs.a.', { afterSeq: 0 })) kept.push(m.data);
  assert.deepEqual(kept, lines.slice(-100));
});
