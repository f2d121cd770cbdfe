/**
 * The Store contract's test suite (src/store/types.ts), run against every backend: SQLite by
 * `src/store/sqlite.test.ts`, NATS JetStream by `src/store/nats.test.ts`. A backend passes these
 * or it is not a store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNearbyError } from '../../src/errors.ts';
import { update } from '../../src/store/mod.ts';
import type { Store, WatchEvent } from '../../src/store/types.ts';

export interface ContractStoreOptions {
  /** Opening the same name again gives the same data (a restart). */
  name: string;
  streamSize?: number;
}

/** Opens a store; the backend's test file closes it and removes its data after the test. */
export type OpenContractStore = (options: ContractStoreOptions) => Promise<Store>;

let names = 0;
const uniqueName = () => `c${process.pid}x${++names}`;

/** `put k` / `delete k` / `synced`: events as a reader would summarise them. */
export function describeEvent(event: WatchEvent): string {
  return event.type === 'synced' ? 'synced' : `${event.type} ${event.key}`;
}

/**
 * Iterates `events` in the background, keeping what it sees. `waitFor(n)` resolves once `n`
 * events are in; `stop()` aborts the iteration and resolves when it has ended.
 */
export function collect<T>(events: (signal: AbortSignal) => AsyncIterable<T>) {
  const controller = new AbortController();
  const seen: T[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let failure: unknown;
  const done = (async () => {
    for await (const event of events(controller.signal)) {
      seen.push(event);
      for (const waiter of waiters.filter((w) => seen.length >= w.count)) waiter.resolve();
    }
  })().catch((error) => {
    failure = error;
    for (const waiter of waiters) waiter.resolve();
  });
  return {
    seen,
    waitFor(count: number): Promise<T[]> {
      if (failure) return Promise.reject(failure);
      if (seen.length >= count) return Promise.resolve(seen);
      return new Promise((resolve, reject) =>
        waiters.push({
          count,
          resolve: () => (failure ? reject(failure) : resolve(seen)),
        }),
      );
    },
    async stop(): Promise<T[]> {
      controller.abort();
      await done;
      if (failure) throw failure;
      return seen;
    },
  };
}

export function storeContract(backend: string, open: OpenContractStore): void {
  const fresh = (streamSize?: number) => open({ name: uniqueName(), streamSize });

  test(`${backend}: values round-trip and survive reopening, revisions grow store-wide`, async () => {
    const name = uniqueName();
    let store = await open({ name });
    const value = { name: 'a', n: 1.5, list: [1, 'two', null], nested: { ok: true }, text: 'ü "q" \n' };
    const r1 = await store.put('apps/a', value);
    const r2 = await store.put('apps/b', 'plain string');
    assert.ok(r2 > r1);
    assert.ok((await store.revision()) >= r2);
    await store.close();
    store = await open({ name });
    assert.deepEqual(await store.get('apps/a'), { key: 'apps/a', value, revision: r1 });
    assert.equal((await store.get('apps/b'))?.value, 'plain string');
    assert.equal(await store.get('apps/none'), undefined);
    assert.ok((await store.put('apps/c', {})) > r2, 'revisions keep growing after a restart');
  });

  test(`${backend}: keys with odd characters round-trip and list by prefix, sorted`, async () => {
    const store = await fresh();
    const odd = ['certs/*.example.com', 'certs/a b/ü/x.y', 'certs/>', 'certs/=3D', 'certs/x//y', 'certs/'];
    for (const key of odd) await store.put(key, key);
    await store.put('certsx/not-under-prefix', 1);
    await store.put('apps/we', 1);
    await store.put('apps/web/1', 2);
    await store.put('apps/other', 3);
    for (const key of odd) assert.equal((await store.get(key))?.value, key, key);
    assert.deepEqual(
      (await store.list('certs/')).map((e) => e.key),
      [...odd].sort(),
    );
    assert.deepEqual(
      (await store.list('apps/we')).map((e) => e.key),
      ['apps/we', 'apps/web/1'],
      'a prefix may end inside a segment',
    );
    assert.deepEqual(await store.list('nothing/'), []);
    assert.equal((await store.list('')).length, odd.length + 4);
  });

  test(`${backend}: compare-and-set creates, updates and refuses a stale revision`, async () => {
    const store = await fresh();
    const rev = await store.put('k', 1, { expectRevision: 0 });
    await assert.rejects(store.put('k', 2, { expectRevision: 0 }), (e) => isNearbyError(e, 'STORE_CONFLICT'));
    await assert.rejects(store.put('k', 2, { expectRevision: rev + 100 }), (e) =>
      isNearbyError(e, 'STORE_CONFLICT'),
    );
    const rev2 = await store.put('k', 3, { expectRevision: rev });
    await assert.rejects(store.put('k', 4, { expectRevision: rev }), (e) =>
      isNearbyError(e, 'STORE_CONFLICT'),
    );
    assert.deepEqual(await store.get('k'), { key: 'k', value: 3, revision: rev2 });
    await Promise.all([1, 2, 3, 4, 5].map(() => update<number>(store, 'n', (n) => (n ?? 0) + 1)));
    assert.equal((await store.get('n'))?.value, 5);
  });

  test(`${backend}: delete says whether the key was there, and honours a revision`, async () => {
    const store = await fresh();
    assert.equal(await store.delete('gone'), false);
    assert.equal(await store.delete('gone', { expectRevision: 0 }), false);
    const rev = await store.put('k', 1);
    await assert.rejects(store.delete('k', { expectRevision: rev + 1 }), (e) =>
      isNearbyError(e, 'STORE_CONFLICT'),
    );
    await assert.rejects(store.delete('k', { expectRevision: 0 }), (e) => isNearbyError(e, 'STORE_CONFLICT'));
    assert.equal(await store.delete('k', { expectRevision: rev }), true);
    assert.equal(await store.get('k'), undefined);
    assert.deepEqual(await store.list(''), []);
    assert.equal(await store.delete('k'), false);
    await store.put('k', 2, { expectRevision: 0 });
    assert.equal(await store.delete('k'), true);
    assert.ok((await store.revision()) > rev);
  });

  test(`${backend}: a watch gives current values, synced, then live changes under its prefix`, async () => {
    const store = await fresh();
    await store.put('machines/a/1', { n: 1 });
    await store.put('machines/a/0', { n: 0 });
    await store.delete('machines/a/0');
    const before = await store.put('other/x', {});
    const watch = collect((signal) => store.watch('machines/', { signal }));
    const initial = await watch.waitFor(2);
    assert.deepEqual(initial.map(describeEvent), ['put machines/a/1', 'synced']);
    const synced = initial[1];
    assert.ok(synced.type === 'synced' && synced.revision >= before, 'synced covers every earlier write');
    const r = await store.put('machines/a/2', { n: 2 });
    await store.put('apps/z', {});
    await store.delete('machines/a/1');
    const events = await watch.waitFor(4);
    await watch.stop();
    assert.deepEqual(events.map(describeEvent), [
      'put machines/a/1',
      'synced',
      'put machines/a/2',
      'delete machines/a/1',
    ]);
    assert.deepEqual(events[2], { type: 'put', key: 'machines/a/2', value: { n: 2 }, revision: r });
    assert.ok(events[3].type === 'delete' && events[3].revision > r);
  });

  test(`${backend}: a watch resumes after a revision with the changes since`, async () => {
    const store = await fresh();
    await store.put('machines/a/1', 1);
    const r = await store.put('machines/a/2', 2);
    await store.delete('machines/a/1');
    await store.put('machines/b/1', 3);
    await store.put('elsewhere', 4);
    const watch = collect((signal) => store.watch('machines/', { afterRevision: r, signal }));
    assert.deepEqual((await watch.waitFor(2)).map(describeEvent), [
      'delete machines/a/1',
      'put machines/b/1',
    ]);
    await store.put('machines/c/1', 5);
    assert.deepEqual((await watch.waitFor(3)).map(describeEvent).at(-1), 'put machines/c/1');
    await watch.stop();
    const current = await store.revision();
    const idle = collect((signal) => store.watch('machines/', { afterRevision: current, signal }));
    await store.put('machines/d/1', 6);
    assert.deepEqual((await idle.waitFor(1)).map(describeEvent), ['put machines/d/1']);
    await idle.stop();
  });

  test(`${backend}: streams keep messages in order, read the tail or after a seq, and follow`, async () => {
    const store = await fresh();
    const s1 = await store.append('logs.a.fra.1', 'one');
    await store.append('logs.b.fra.1', 'other app');
    await store.append('logs.a.fra.2', { line: 'two' });
    const read = async (prefix: string, options = {}) => {
      const out: unknown[] = [];
      for await (const m of store.read(prefix, options)) out.push(m.data);
      return out;
    };
    assert.deepEqual(await read('logs.a.'), ['one', { line: 'two' }]);
    assert.deepEqual(await read('logs.a.', { tail: 1 }), [{ line: 'two' }]);
    assert.deepEqual(await read('logs.', { afterSeq: s1 }), ['other app', { line: 'two' }]);
    assert.deepEqual(await read('logs.none.'), []);
    for await (const m of store.read('logs.a.fra.1')) {
      assert.equal(m.subject, 'logs.a.fra.1');
      assert.equal(m.seq, s1);
      assert.ok(Math.abs(m.time - Date.now()) < 60_000);
    }
    const follow = collect((signal) => store.read('logs.a.', { follow: true, tail: 1, signal }));
    assert.deepEqual(
      (await follow.waitFor(1)).map((m) => m.data),
      [{ line: 'two' }],
    );
    await store.append('logs.b.fra.1', 'not followed');
    await store.append('logs.a.fra.1', 'three');
    assert.deepEqual(
      (await follow.waitFor(2)).map((m) => m.data),
      [{ line: 'two' }, 'three'],
    );
    await follow.stop();
  });

  test(`${backend}: appendAll writes a batch in order, followers see each message`, async () => {
    const store = await fresh();
    assert.equal(await store.appendAll('logs.a.fra.1', []), 0);
    // From the start: a follower that only begins once part of the batch is in (a busy machine)
    // would otherwise begin at the last 100, as a tail does.
    const follow = collect((signal) => store.read('logs.a.', { follow: true, afterSeq: 0, signal }));
    const lines = Array.from({ length: 6000 }, (_, i) => `line ${i}`);
    const last = await store.appendAll('logs.a.fra.1', lines);
    const followed = await follow.waitFor(6000);
    await follow.stop();
    assert.deepEqual(
      followed.map((m) => m.data),
      lines,
    );
    assert.equal(followed.at(-1)?.seq, last);
  });

  test(`${backend}: a stream keeps its last streamSize messages`, async () => {
    const store = await fresh(100);
    const lines = Array.from({ length: 6000 }, (_, i) => `line ${i}`);
    const last = await store.appendAll('logs.a.fra.1', lines);
    const kept: unknown[] = [];
    let seq = 0;
    for await (const m of store.read('logs.a.', { afterSeq: 0 })) {
      kept.push(m.data);
      seq = m.seq;
    }
    assert.equal(seq, last);
    assert.deepEqual(kept, lines.slice(-100));
  });
}
