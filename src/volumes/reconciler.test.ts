import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { flakyStore } from '../../test/helpers/flaky-store.ts';
import { keys, type VolumeRecord } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { followVolumes } from './reconciler.ts';

const volume = (id: string, desired: VolumeRecord['desired'] = 'created'): VolumeRecord => ({
  id,
  name: 'data',
  app: 'a',
  region: 'fra',
  host: 'h1',
  size_gb: 1,
  attached_machine_id: null,
  desired,
  created_at: new Date(0).toISOString(),
  updated_at: new Date(0).toISOString(),
});

test('followVolumes: a store outage pauses the loop; the volumes written meanwhile are done once it is back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-volumes-follow-'));
  const inner = new SqliteStore(join(dir, 'state.db'));
  const store = flakyStore(inner);
  const controller = new AbortController();
  const done: string[] = [];
  let notify = () => {};
  const record = (what: string) => async (v: VolumeRecord) => {
    done.push(`${what} ${v.id}`);
    notify();
  };
  const manager = { ensure: record('ensure'), destroy: record('destroy'), snapshot: async () => {} };
  const loop = followVolumes(store, 'h1', manager, pino({ level: 'silent' }), controller.signal);
  t.after(async () => {
    controller.abort();
    await loop;
    await inner.close();
    await rm(dir, { recursive: true, force: true });
  });
  const waitFor = async (count: number) => {
    while (done.length < count) await new Promise<void>((resolve) => (notify = resolve));
  };
  await inner.put(keys.volume('a', 'v1'), volume('v1'));
  await waitFor(1);
  store.cut();
  // Written by the API while this agent's store is away.
  await inner.put(keys.volume('a', 'v2'), volume('v2'));
  await inner.put(keys.volume('a', 'v1'), volume('v1', 'destroyed'));
  await inner.put(keys.volume('a', 'v3'), { ...volume('v3'), host: 'h2' });
  store.restore();
  await waitFor(3);
  assert.deepEqual(done, ['ensure v1', 'ensure v2', 'destroy v1']);
  assert.ok(store.watchesOpened >= 2, 'the loop watched again');
});
