import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { type HostRecord, keys, type VolumeRecord } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { attachVolumes } from './volume-attach.ts';
import { createVolume, destroyVolume, extendVolume, listVolumes } from './volumes.ts';

function setup(t: { after(fn: () => unknown): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-volumes-api-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const now = new Date().toISOString();
  const host = (name: string, region: string): HostRecord => ({
    name,
    region,
    runtime: 'crun',
    memory_mb: 4096,
    cpus: 2,
    heartbeat_at: now,
    started_at: now,
  });
  return {
    store,
    async init() {
      await store.put(keys.app('db'), {
        id: 'a1',
        name: 'db',
        org_slug: 'personal',
        network: 'n',
        created_at: now,
      });
      await store.put(keys.host('h1'), host('h1', 'fra'));
      await store.put(keys.host('h2'), host('h2', 'ams'));
    },
    /** Writes the machine record, as createMachine does after attaching. */
    async machine(id: string, host: string, destroyed = false) {
      await store.put(keys.machine('db', id), {
        id,
        app: 'db',
        host,
        destroyed_at: destroyed ? now : undefined,
      });
    },
  };
}

const code = (expected: string) => (error: unknown) => isNearbyError(error, expected);

test('mounts by name attach a free volume of that name in the region, or create one on the host', async (t) => {
  const { store, init, machine } = setup(t);
  await init();
  const existing = await createVolume(store, 'db', { name: 'data', size_gb: 3 }, 'fra');
  const config = { image: 'db:1', mounts: [{ name: 'data', path: '/data' }] };
  const first = await attachVolumes(store, {
    app: 'db',
    machineId: 'm1',
    region: 'fra',
    config,
    host: async () => 'h1',
  });
  assert.equal(first.config.mounts?.[0].volume, existing.id, 'the free volume is taken');
  assert.equal(first.host, 'h1');
  await machine('m1', 'h1');

  const second = await attachVolumes(store, {
    app: 'db',
    machineId: 'm2',
    region: 'fra',
    config,
    host: async () => 'h1',
  });
  const made = second.config.mounts?.[0].volume as string;
  assert.notEqual(made, existing.id, 'a held volume is not shared: a new one is made');
  const volume = (await store.get<VolumeRecord>(keys.volume('db', made)))?.value;
  assert.equal(volume?.size_gb, 1, 'default size');
  assert.equal(volume?.attached_machine_id, 'm2');

  // An update keeps the machine's own volume, and lets go of one it no longer mounts.
  const kept = await attachVolumes(store, {
    app: 'db',
    machineId: 'm1',
    region: 'fra',
    config: { ...config, env: { A: '1' } },
    host: 'h1',
    previous: first.config,
  });
  assert.equal(kept.config.mounts?.[0].volume, existing.id);
  await attachVolumes(store, {
    app: 'db',
    machineId: 'm1',
    region: 'fra',
    config: { image: 'db:1' },
    host: 'h1',
    previous: kept.config,
  });
  assert.equal(
    (await store.get<VolumeRecord>(keys.volume('db', existing.id)))?.value.attached_machine_id,
    null,
  );
});

test('one machine per volume, on its host and region; destroy waits for the machine to go', async (t) => {
  const { store, init, machine } = setup(t);
  await init();
  const volume = await createVolume(store, 'db', { name: 'data' }, 'fra');
  const byId = { image: 'db:1', mounts: [{ volume: volume.id, path: '/data' }] };
  await attachVolumes(store, {
    app: 'db',
    machineId: 'm1',
    region: 'fra',
    config: byId,
    host: async () => 'h1',
  });
  await machine('m1', 'h1');
  await assert.rejects(
    attachVolumes(store, { app: 'db', machineId: 'm2', region: 'fra', config: byId, host: async () => 'h1' }),
    code('VOLUME_ATTACHED'),
  );
  await assert.rejects(
    attachVolumes(store, { app: 'db', machineId: 'm3', region: 'ams', config: byId, host: async () => 'h2' }),
    code('VOLUME_WRONG_REGION'),
  );
  await assert.rejects(destroyVolume(store, 'db', volume.id), code('VOLUME_ATTACHED'));
  await assert.rejects(extendVolume(store, 'db', volume.id, 1), code('VOLUME_CANNOT_SHRINK'));
  assert.equal((await extendVolume(store, 'db', volume.id, 2)).size_gb, 2);

  await machine('m1', 'h1', true); // the reaper marked it destroyed
  await destroyVolume(store, 'db', volume.id);
  assert.deepEqual(await listVolumes(store, 'db'), [], 'a destroyed volume leaves the list');
  await assert.rejects(
    attachVolumes(store, { app: 'db', machineId: 'm4', region: 'fra', config: byId, host: async () => 'h1' }),
    code('VOLUME_DESTROYED'),
  );
  await assert.rejects(createVolume(store, 'db', { name: 'no-dash' }, 'fra'), code('VOLUME_NAME_INVALID'));
  await assert.rejects(
    createVolume(store, 'db', { name: 'big', size_gb: 501 }, 'fra'),
    code('VOLUME_SIZE_INVALID'),
  );
  await assert.rejects(
    attachVolumes(store, {
      app: 'db',
      machineId: 'm5',
      region: 'fra',
      config: {
        image: 'db:1',
        mounts: [
          { name: 'a', path: '/x' },
          { name: 'b', path: '/x/' },
        ],
      },
      host: async () => 'h1',
    }),
    /two mounts at \/x/,
  );
});
