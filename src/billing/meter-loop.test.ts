import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { keys } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { UsageRecord } from './meter.ts';
import { meterOnce } from './meter-loop.ts';
import { usageKey } from './store.ts';

describe('meter pass on a real store', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-meter-'));
  const store = new SqliteStore(join(dir, 'store.db'));
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  await store.put(keys.app('web'), { name: 'web', org_slug: 'acme' });
  await store.put(keys.machine('web', 'm1'), {
    id: 'm1',
    app: 'web',
    config: { guest: { cpu_kind: 'shared', cpus: 2, memory_mb: 512 } },
  });
  const pull = { ref: 'web:1', done_bytes: 0, total_bytes: 500_000_000, layers_done: 2, layers_total: 2 };
  await store.put(keys.machineStatus('h1', 'm1'), { id: 'm1', app: 'web', state: 'started', pull });
  await store.put(keys.volume('web', 'v1'), { id: 'v1', app: 'web', host: 'h1', size_gb: 3 });
  const t0 = Date.UTC(2026, 11, 6, 12);
  const key = usageKey('acme', '2026-12', 'web', 'h1');
  const read = async () => (await store.get<UsageRecord>(key))?.value;

  it('counts each second once, also when a restarted agent passes again at the same moment', async () => {
    const pass = (now: number) =>
      meterOnce({ store, host: 'h1', region: 'iad', now: () => now, intervalMs: 10_000 });
    await pass(t0);
    assert.deepEqual((await read())?.machine_seconds, { 'shared-2x-512mb': 10 });
    await pass(t0 + 10_000);
    await pass(t0 + 10_000); // a restart: the record is read back, nothing new to add
    const record = await read();
    assert.deepEqual(record?.machine_seconds, { 'shared-2x-512mb': 20 });
    assert.equal(record?.volume_gb_seconds, 60);
    assert.equal(record?.rootfs_gb_seconds, 10, "the image's 0.5 GB for 20 s");
    await store.put(keys.machineStatus('h1', 'm1'), { id: 'm1', app: 'web', state: 'stopped', pull });
    await pass(t0 + 40_000);
    assert.deepEqual(
      (await read())?.machine_seconds,
      { 'shared-2x-512mb': 20 },
      'a stopped machine pays only its disks',
    );
    assert.equal((await read())?.rootfs_gb_seconds, 25, 'its root filesystem still counts');
  });
});
