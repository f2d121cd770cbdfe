/**
 * `npm run bench -- store [rounds]`: the store's write and watch latency on each backend — SQLite
 * in a temp dir, and NATS JetStream on a three-node cluster on loopback (replicas 3). A put is a
 * plain write; a CAS put is `expectRevision` (a read of the bucket's last sequence and of the key,
 * then the conditional write); watch latency is from a put's start until a watch sees it; a list
 * reads 100 keys.
 * Prints `name=value` lines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatsStore } from '../src/store/nats.ts';
import { SqliteStore } from '../src/store/sqlite.ts';
import type { Store } from '../src/store/types.ts';
import { startNatsCluster } from '../test/helpers/nats.ts';
import { stats } from './lib/stats.ts';

const rounds = Number(process.argv[2] ?? 500);
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const fixed = (value: number) => value.toFixed(2);

async function measure(store: Store, backend: string): Promise<void> {
  const put: number[] = [];
  const cas: number[] = [];
  const seen: number[] = [];
  for (let i = 0; i < 50; i++) await store.put(`warm/${i}`, { i }); // first requests pay for setup
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    await store.put(`bench/put/${i % 100}`, { i, at: Date.now() });
    put.push(ms(start));
  }
  let revision = 0;
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    revision = await store.put('bench/cas', { i }, { expectRevision: revision });
    cas.push(ms(start));
  }
  const controller = new AbortController();
  const watch = store.watch('bench/watch/', { signal: controller.signal })[Symbol.asyncIterator]();
  await watch.next(); // synced
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    await store.put(`bench/watch/${i % 100}`, { i });
    await watch.next();
    seen.push(ms(start));
  }
  controller.abort();
  // A list of 100 keys (bench/put/): on NATS read from the stream leader only (docs/cluster.md, "Reads").
  const list: number[] = [];
  for (let i = 0; i < Math.min(rounds, 200); i++) {
    const start = process.hrtime.bigint();
    await store.list('bench/put/');
    list.push(ms(start));
  }
  const l = stats(list);
  const p = stats(put);
  const c = stats(cas);
  const w = stats(seen);
  console.log(`store_put_p50_ms_${backend}=${fixed(p.p50)} store_put_p99_ms_${backend}=${fixed(p.p99)}`);
  console.log(
    `store_cas_put_p50_ms_${backend}=${fixed(c.p50)} store_cas_put_p99_ms_${backend}=${fixed(c.p99)}`,
  );
  console.log(
    `store_watch_seen_p50_ms_${backend}=${fixed(w.p50)} store_watch_seen_p99_ms_${backend}=${fixed(w.p99)} rounds=${rounds}`,
  );
  console.log(
    `store_list100_p50_ms_${backend}=${fixed(l.p50)} store_list100_p99_ms_${backend}=${fixed(l.p99)}`,
  );
}

const dir = await mkdtemp(join(tmpdir(), 'nearby-bench-store-'));
const sqlite = new SqliteStore(join(dir, 'state.db'));
try {
  await measure(sqlite, 'sqlite');
} finally {
  await sqlite.close();
  await rm(dir, { recursive: true, force: true });
}

const cluster = await startNatsCluster();
try {
  const nats = await NatsStore.open({ servers: cluster.urls, prefix: 'bench' });
  try {
    await measure(nats, 'nats');
  } finally {
    await nats.close();
  }
} finally {
  await cluster.stop();
}
