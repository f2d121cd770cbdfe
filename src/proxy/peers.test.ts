import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { flakyStore } from '../../test/helpers/flaky-store.ts';
import { NearbyError } from '../errors.ts';
import { keys } from '../model/keys.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/types.ts';
import { Peers } from './peers.ts';

const timing = { heartbeatMs: 50, staleMs: 300, rttWindow: 5 };

/** Another proxy's heartbeat, written straight into the store. */
function beatOf(store: Store, host: string) {
  return store.put(keys.proxy(host), {
    host,
    region: 'syd',
    backhaul: '127.0.0.1:1',
    version: '0',
    heartbeat_at: new Date().toISOString(),
    rtt_ms: {},
  });
}

/** The proxy under test: `a` in fra. */
function proxyA(store: Store, agent: Agent, signal: AbortSignal) {
  return new Peers({
    store,
    host: 'a',
    region: 'fra',
    advertise: '127.0.0.1:2',
    agent,
    timing,
    signal,
    onChange: () => {},
    log: pino({ level: 'silent' }),
  });
}

async function until(what: string, check: () => boolean) {
  for (let i = 0; i < 200 && !check(); i++) await delay(20);
  assert.ok(check(), what);
}

test('peers: a proxy that loses the store keeps its peers (fail static); back, it drops the one that died meanwhile', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-peers-'));
  const inner = new SqliteStore(join(dir, 'state.db'));
  const store = flakyStore(inner);
  const controller = new AbortController();
  const agent = new Agent();
  t.after(async () => {
    controller.abort();
    agent.destroy();
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });
  // Another proxy, beating while `beating`: its record is written straight into the store.
  let beating = true;
  const beat = async () => {
    while (!controller.signal.aborted && beating) {
      await beatOf(inner, 'b');
      await delay(timing.heartbeatMs);
    }
  };
  const beats = beat();
  const peers = proxyA(store, agent, controller.signal);
  await peers.start();
  const live = () => [...peers.placement().peers.keys()];
  await until('b is a live peer', () => live().includes('b'));

  store.cut();
  // Neither a's watch nor its own record move: b must not look dead for it, though b stops too.
  beating = false;
  await beats;
  await delay(timing.staleMs * 3);
  assert.deepEqual(live(), ['b'], 'fail static: the peer it last knew is kept');

  store.restore();
  // a's own record comes back through its watch, b's does not: now b is dead.
  await until('b dropped once a sees the store again', () => !live().includes('b'));
});

test('peers: when the store took nobody’s writes for a while, no peer is dropped as the writes resume', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-peers-'));
  const inner = new SqliteStore(join(dir, 'state.db'));
  // Writes fail while `storeUp` is false; reads and watches go on (a leader election on NATS).
  let storeUp = true;
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'put' && !storeUp)
        return async () => {
          throw new NearbyError('STORE_UNAVAILABLE', 'no leader');
        };
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  let bUp = true;
  const controller = new AbortController();
  const agent = new Agent();
  t.after(async () => {
    controller.abort();
    agent.destroy();
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });
  // b beats while the store takes its writes.
  const beats = (async () => {
    while (!controller.signal.aborted) {
      if (bUp) {
        await beatOf(inner, 'b');
      }
      await delay(timing.heartbeatMs);
    }
  })();
  t.after(() => beats);
  const peers = proxyA(store, agent, controller.signal);
  await peers.start();
  const live = () => [...peers.placement().peers.keys()];
  await until('b is a live peer', () => live().includes('b'));

  // A leader election: no heartbeat gets through for three times the staleness window.
  storeUp = false;
  bUp = false;
  await delay(timing.staleMs * 3);
  // Writes resume: a’s heartbeats land first, b’s two heartbeats later.
  storeUp = true;
  const samples: string[][] = [];
  const sampling = (async () => {
    for (let i = 0; i < 40; i++) {
      samples.push(live());
      if (i === 10) bUp = true;
      await delay(timing.heartbeatMs / 5);
    }
  })();
  await sampling;
  assert.ok(
    samples.every((sample) => sample.includes('b')),
    `b stayed live: ${JSON.stringify(samples)}`,
  );
});
