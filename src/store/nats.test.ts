import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type NatsCluster, startNatsCluster } from '../../test/helpers/nats.ts';
import { collect, storeContract } from '../../test/helpers/store-contract.ts';
import { isNearbyError } from '../errors.ts';
import { NatsStore } from './nats.ts';
import type { Store, WatchEvent } from './types.ts';

let cluster: NatsCluster;
const open: Store[] = [];
before(async () => {
  cluster = await startNatsCluster();
});
after(async () => {
  await Promise.all(open.map((store) => store.close().catch(() => {})));
  await cluster?.stop();
});

storeContract('nats', async ({ name, streamSize }) => {
  const store = await NatsStore.open({ servers: cluster.urls, prefix: name, streamSize });
  open.push(store);
  return store;
});

/** Writes `key` once, riding out the store going away: a timeout means "unknown", so look before retrying. */
async function createSurely(store: Store, key: string, value: unknown): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await store.put(key, value, { expectRevision: 0 });
      return;
    } catch (error) {
      if (isNearbyError(error, 'STORE_CONFLICT') && attempt > 0) return; // an earlier attempt landed
      if (!isNearbyError(error, 'STORE_UNAVAILABLE') && !isNearbyError(error, 'STORE_TIMEOUT')) throw error;
      if (attempt > 600) throw error;
      await delay(100);
    }
  }
}

function assertEachOnceInOrder(events: WatchEvent[], keys: string[]) {
  const puts = events.filter((e) => e.type === 'put');
  assert.deepEqual(
    puts.map((e) => e.key),
    keys,
  );
  const revisions = puts.map((e) => e.revision);
  assert.deepEqual(
    revisions,
    [...revisions].sort((a, b) => a - b),
  );
}

test('nats: a watch survives the kill -9 of its server and its restart, losing and repeating nothing', async () => {
  const store = await NatsStore.open({ servers: cluster.urls, prefix: 'killone' });
  open.push(store);
  const watch = collect((signal) => store.watch('jobs/', { signal }));
  await watch.waitFor(1);
  const keys = Array.from({ length: 30 }, (_, i) => `jobs/${String(i).padStart(2, '0')}`);
  for (const key of keys.slice(0, 10)) await createSurely(store, key, key);
  const victim = cluster.indexOf(store.server);
  await cluster.kill(victim);
  for (const key of keys.slice(10, 20)) await createSurely(store, key, key);
  await cluster.start(victim);
  await cluster.ready();
  for (const key of keys.slice(20)) await createSurely(store, key, key);
  const events = await watch.waitFor(31);
  await delay(200); // a repeated event would arrive now
  await watch.stop();
  assert.equal(events[0].type, 'synced');
  assertEachOnceInOrder(events, keys);
});

test('nats: with every server gone calls fail with STORE_UNAVAILABLE, and the watch resumes when they are back', async () => {
  const store = await NatsStore.open({ servers: cluster.urls, prefix: 'killall' });
  open.push(store);
  const watch = collect((signal) => store.watch('jobs/', { signal }));
  await watch.waitFor(1);
  await store.put('jobs/1', 1);
  await Promise.all([0, 1, 2].map((index) => cluster.kill(index)));
  const failure = await store.get('jobs/1').then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(isNearbyError(failure, 'STORE_UNAVAILABLE'), `got ${failure}`);
  assert.match(failure.message, new RegExp(cluster.urls[0]));
  await assert.rejects(store.put('jobs/2', 2), (e) => isNearbyError(e, 'STORE_UNAVAILABLE'));
  await Promise.all([0, 1, 2].map((index) => cluster.start(index)));
  await cluster.ready();
  await createSurely(store, 'jobs/3', 3);
  const events = await watch.waitFor(3);
  await delay(200);
  await watch.stop();
  assertEachOnceInOrder(events, ['jobs/1', 'jobs/3']);
});

test('nats: lists and watch snapshots finish while their keys are overwritten and deleted', async () => {
  // nats-server 2.9.10 can overcount a filtered consumer's num_pending when a key is replaced or
  // deleted while its last-per-subject snapshot is sent: reads waiting for 0 never ended.
  const store = await NatsStore.open({ servers: cluster.urls, prefix: 'overwrite' });
  open.push(store);
  let writing = true;
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      await store.put(`activity/fra/h${i % 3}`, { i });
      if (i % 5 === 0) await store.delete(`activity/fra/h${(i + 1) % 3}`);
      await store.put(`activity/syd/h${i % 2}`, { i });
    }
  })();
  /** Resolves to what `read` gave, or rejects after 20 s: a read that never ends is the bug. */
  const finishes = async <T>(what: string, read: Promise<T>) => {
    const guard = new AbortController();
    try {
      return await Promise.race([
        read,
        delay(20_000, undefined, { signal: guard.signal }).then(() => {
          throw new Error(`${what} did not finish while its keys were being written`);
        }),
      ]);
    } finally {
      guard.abort();
    }
  };
  try {
    for (let round = 0; round < 300; round++) {
      const listed = await finishes(`list ${round}`, store.list<{ i: number }>('activity/fra/'));
      assert.ok(listed.every((entry) => entry.key.startsWith('activity/fra/')));
      if (round % 10 !== 0) continue;
      const signal = AbortSignal.timeout(25_000);
      const synced = (async () => {
        for await (const event of store.watch('activity/fra/', { signal }))
          if (event.type === 'synced') return true;
        return false;
      })();
      assert.equal(await finishes(`watch ${round}`, synced), true);
    }
  } finally {
    writing = false;
    await writer;
  }
});

test('nats: a list misses no key that is written while it starts', async () => {
  // Three keys rewritten back to back (as heartbeats are): each list must have all three.
  const store = await NatsStore.open({ servers: cluster.urls, prefix: 'rewrite' });
  open.push(store);
  const hosts = ['fra-1', 'iad-1', 'syd-1'];
  for (const host of hosts) await store.put(`hosts/${host}`, { n: 0 });
  let writing = true;
  const writer = (async () => {
    for (let n = 1; writing; n++) await store.put(`hosts/${hosts[n % 3]}`, { n });
  })();
  try {
    for (let round = 0; round < 150; round++) {
      const listed = (await store.list('hosts/')).map((entry) => entry.key);
      assert.deepEqual(
        listed,
        hosts.map((host) => `hosts/${host}`),
        `round ${round}`,
      );
    }
  } finally {
    writing = false;
    await writer;
  }
});

test('nats: a list right after a node comes back misses none of the writes made while it was down', async () => {
  const store = await NatsStore.open({ servers: cluster.urls, prefix: 'relist' });
  open.push(store);
  const keys = Array.from({ length: 40 }, (_, i) => `apps/${String(i).padStart(2, '0')}`);
  for (const key of keys.slice(0, 5)) await createSurely(store, key, key);
  // Not the node this client talks to: the client stays, the victim's replica falls behind.
  const victim = (cluster.indexOf(store.server) + 1) % 3;
  await cluster.kill(victim);
  for (const key of keys.slice(5)) await createSurely(store, key, key);
  await cluster.start(victim);
  await cluster.ready();
  // A list's consumer lands on any replica: the one catching up must not answer with its past.
  for (let round = 0; round < 20; round++) {
    const listed = (await store.list('apps/')).map((entry) => entry.key);
    assert.deepEqual(listed, keys, `round ${round}`);
  }
});

test('nats: of concurrent compare-and-sets on one key exactly one wins, while other keys are written', async () => {
  // One client per server, so writes reach the stream leader from every node; creates, updates
  // and creates over a delete marker, each raced by six writers with the same revision.
  const stores = await Promise.all(
    cluster.urls.map((url) => NatsStore.open({ servers: [url], prefix: 'race' })),
  );
  open.push(...stores);
  let writing = true;
  const writer = (async () => {
    for (let n = 0; writing; n++) {
      await stores[n % 3].put(`hosts/h${n % 3}`, { n });
      await delay(5);
    }
  })();
  try {
    for (let round = 0; round < 30; round++) {
      const key = `leases/l${round % 3}`;
      const expectRevision = (await stores[round % 3].get(key))?.revision ?? 0;
      const tries = stores.flatMap((store, s) =>
        [0, 1].map((n) => store.put(key, { round, writer: s * 2 + n }, { expectRevision })),
      );
      const results = await Promise.allSettled(tries);
      const won = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
      assert.equal(won.length, 1, `round ${round} (revision ${expectRevision}): ${won.length} writers won`);
      for (const result of results) {
        if (result.status === 'rejected')
          assert.ok(isNearbyError(result.reason, 'STORE_CONFLICT'), result.reason);
      }
      assert.deepEqual((await stores[(round + 1) % 3].get(key))?.value, { round, writer: won[0] });
      if (round % 4 === 3) assert.equal(await stores[round % 3].delete(key), true);
    }
  } finally {
    writing = false;
    await writer;
  }
});
