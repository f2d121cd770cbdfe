/**
 * `npm run bench -- store-world [--rounds 20] [--busy 5]`: compare-and-set on the store across
 * continents. A world of iad, fra and syd (one NATS node each, the state bucket on all three), the
 * bucket's leader moved to syd, a client in iad (where the world's API is) and, from fra, other
 * keys written `--busy` times a second without a condition (what heartbeats, RTTs, demand and
 * activity records do). Times `--rounds` compare-and-sets and as many plain puts from iad, the
 * reference: a plain put is one round trip to the leader. Prints `name=value` lines.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsStore } from '../src/store/nats.ts';
import { startWorld } from '../test/helpers/world.ts';
import { stats } from './lib/stats.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '20' }, busy: { type: 'string', default: '5' } },
});
const rounds = Number(values.rounds);
const busy = Number(values.busy);
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
const fixed = (value: number) => value.toFixed(1);
const STREAM = 'KV_nearby_state';

const world = await startWorld(['iad', 'fra', 'syd'], ['iad']);
try {
  const url = (region: string) => {
    const host = world.status.hosts.find((h) => h.region === region);
    if (!host) throw new Error(`no host in ${region}`);
    return `nats://${host.address}:4222`;
  };
  // The leader far from the client: a step-down elects another node; ask until it is syd.
  const nc = await connect({ servers: url('iad') });
  const jsm = await jetstreamManager(nc);
  for (let tries = 0; (await jsm.streams.info(STREAM)).cluster?.leader !== 'syd'; tries++) {
    if (tries > 30) throw new Error('the state bucket leader never moved to syd');
    await nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${STREAM}`, '', { timeout: 10_000 }).catch(() => {});
    await delay(2000);
  }
  await nc.close();

  const client = await NatsStore.open({ servers: [url('iad')] });
  const other = await NatsStore.open({ servers: [url('fra')] });
  let writing = true;
  let written = 0;
  const writer = (async () => {
    for (let n = 0; writing; n++) {
      const started = Date.now();
      await other.put(`scratch/busy/${n % 5}`, { n });
      written++;
      await delay(Math.max(0, 1000 / busy - (Date.now() - started)));
    }
  })();
  try {
    const started = Date.now();
    const put: number[] = [];
    const cas: number[] = [];
    let revision = 0;
    for (let i = 0; i < rounds; i++) {
      let start = process.hrtime.bigint();
      await client.put('scratch/plain', { i });
      put.push(ms(start));
      start = process.hrtime.bigint();
      revision = await client.put('scratch/cas', { i }, { expectRevision: revision });
      cas.push(ms(start));
    }
    const rate = written / ((Date.now() - started) / 1000);
    const p = stats(put);
    const c = stats(cas);
    console.log(`store_world_put_p50_ms=${fixed(p.p50)} store_world_put_p95_ms=${fixed(p.p95)}`);
    console.log(
      `store_world_cas_p50_ms=${fixed(c.p50)} store_world_cas_p95_ms=${fixed(c.p95)} store_world_cas_max_ms=${fixed(Math.max(...cas))}`,
    );
    console.log(`store_world_cas_over_put_p50_ratio=${(c.p50 / p.p50).toFixed(2)}`);
    console.log(`store_world_other_writes_per_s=${rate.toFixed(1)} rounds=${rounds} leader=syd client=iad`);
  } finally {
    writing = false;
    await writer;
    await client.close();
    await other.close();
  }
} finally {
  await world.down();
}
