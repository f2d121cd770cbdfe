import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { flakyStore } from '../../test/helpers/flaky-store.ts';
import { type NatsCluster, startNatsCluster } from '../../test/helpers/nats.ts';
import { isNearbyError } from '../errors.ts';
import { keys } from '../model/keys.ts';
import type { LeaseRecord } from '../model/lease.ts';
import { holdLease, type Lease, leaseHolder } from './lease.ts';
import { NatsStore } from './nats.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

const quiet = { info: () => {}, warn: () => {} };
let cluster: NatsCluster;
let dir: string;
const open: Store[] = [];
/** Contenders still running when a test fails are stopped before the stores close. */
const running: (() => Promise<void>)[] = [];
before(async () => {
  cluster = await startNatsCluster();
  dir = await mkdtemp(join(tmpdir(), 'nearby-lease-'));
});
after(async () => {
  await Promise.all(running.map((stop) => stop()));
  await Promise.all(open.map((store) => store.close().catch(() => {})));
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Two handles on one store, as two processes would have (one SQLite file is one process's). */
type Backend = (name: string) => Promise<[Store, Store]>;
const backends: Record<string, Backend> = {
  sqlite: async (name) => {
    const store = new SqliteStore(join(dir, `${name}.db`));
    open.push(store);
    return [store, store];
  },
  nats: async (name) => {
    // One after the other: the first creates the bucket, which a freshly started cluster may be
    // slow to do (STORE_TIMEOUT), so it is asked again.
    const openOne = async (): Promise<Store> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const store = await NatsStore.open({ servers: cluster.urls, prefix: name });
          open.push(store);
          return store;
        } catch (error) {
          if (!isNearbyError(error, 'STORE_TIMEOUT') || attempt > 5) throw error;
        }
      }
    };
    return [await openOne(), await openOne()];
  },
};

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await condition()) return;
    await delay(50);
  }
  assert.fail(`never happened: ${what}`);
}

function contender(store: Store, name: string, holder: string, ttlMs = 1_500) {
  const controller = new AbortController();
  const lease = holdLease({ store, name, holder, ttlMs, log: quiet, signal: controller.signal });
  const stop = () => {
    controller.abort();
    return lease.done;
  };
  running.push(stop);
  return { lease, stop };
}

/** Samples both contenders until `stop`; fails if both ever hold at once. */
function neverBoth(a: Lease, b: Lease): { stop: () => void; both: () => number } {
  let both = 0;
  const timer = setInterval(() => {
    if (a.held() && b.held()) both++;
  }, 5);
  return { stop: () => clearInterval(timer), both: () => both };
}

for (const [backend, open2] of Object.entries(backends)) {
  test(`lease (${backend}): one holder, renewed past its TTL, released on stop`, async () => {
    const [store] = await open2(`lease1${backend}`);
    const a = contender(store, 'certs', 'host-a');
    await until(() => a.lease.held(), 'a holds the lease');
    const first = await store.get<LeaseRecord>(keys.lease('certs'));
    // Renewed: a later write by the same holder, and still held after its first term ran out.
    await until(
      async () => ((await store.get(keys.lease('certs')))?.revision ?? 0) > (first?.revision ?? 0),
      'a renewal',
    );
    await until(() => Date.now() > Date.parse(first?.value.expires_at ?? ''), 'the first term to pass');
    assert.ok(a.lease.held());
    assert.equal(await leaseHolder(store, 'certs'), 'host-a');
    await a.stop();
    assert.equal(a.lease.held(), false);
    assert.equal(await store.get(keys.lease('certs')), undefined);
  });

  test(`lease (${backend}): two contenders, never both holding; the other takes over on release`, async () => {
    const [storeA, storeB] = await open2(`lease2${backend}`);
    const a = contender(storeA, 'autostop/fra', 'host-a');
    const b = contender(storeB, 'autostop/fra', 'host-b');
    const watch = neverBoth(a.lease, b.lease);
    await until(() => a.lease.held() || b.lease.held(), 'someone holds the lease');
    const [first, second] = a.lease.held() ? [a, b] : [b, a];
    await delay(1_000); // a few renewals: the other keeps waiting
    assert.equal(second.lease.held(), false);
    await first.stop();
    await until(() => second.lease.held(), 'the other takes over');
    watch.stop();
    assert.equal(watch.both(), 0);
    await second.stop();
  });

  test(`lease (${backend}): a holder that stops renewing loses the lease after its TTL`, async () => {
    const [store] = await open2(`lease3${backend}`);
    // Left by a holder that died: never renewed, never released.
    const expiresAt = Date.now() + 800;
    await store.put(keys.lease('certs'), {
      holder: 'dead-host',
      expires_at: new Date(expiresAt).toISOString(),
      taken_at: new Date().toISOString(),
    } satisfies LeaseRecord);
    const b = contender(store, 'certs', 'host-b');
    await until(() => b.lease.held(), 'b takes the lapsed lease');
    assert.ok(Date.now() >= expiresAt, 'taken only after the dead holder’s term');
    assert.equal(await leaseHolder(store, 'certs'), 'host-b');
    await b.stop();
  });
}

test('lease: a holder cut off from the store stops acting before another may take over', async () => {
  const [inner] = await backends.sqlite('lease4');
  const cutOff = flakyStore(inner);
  const a = contender(cutOff, 'certs', 'host-a');
  await until(() => a.lease.held(), 'a holds the lease');
  const b = contender(inner, 'certs', 'host-b');
  const watch = neverBoth(a.lease, b.lease);
  cutOff.cut();
  await until(() => b.lease.held(), 'b takes over once a’s term has passed');
  assert.equal(a.lease.held(), false);
  cutOff.restore();
  await delay(500); // a is back: it sees b's lease and waits
  assert.equal(a.lease.held(), false);
  watch.stop();
  assert.equal(watch.both(), 0);
  await Promise.all([a.stop(), b.stop()]);
});
