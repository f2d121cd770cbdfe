// The agent's mesh follows hosts/: a host joining becomes a reachable peer, a host leaving is removed.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MESH_PORT, type MeshHost, makeMeshHosts, ping } from '../../test/helpers/mesh-hosts.ts';
import { type HostRecord, keys } from '../model/mod.ts';
import { meshTransfer } from '../net/wireguard.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { followMeshPeers } from './mesh.ts';

let hosts: MeshHost[] = [];
let remove = async () => {};
let dir = '';
before(async () => {
  ({ hosts, remove } = await makeMeshHosts('nbwa'));
  dir = await mkdtemp(join(tmpdir(), 'nbwa-'));
});
after(async () => {
  await remove();
  await rm(dir, { recursive: true, force: true });
});

const record = (name: string, host: MeshHost): HostRecord => ({
  name,
  region: name,
  runtime: 'container',
  memory_mb: 1024,
  cpus: 1,
  heartbeat_at: new Date().toISOString(),
  started_at: new Date().toISOString(),
  wireguard_public_key: host.publicKey,
  mesh_endpoint: `${host.underlay}:${MESH_PORT}`,
  mesh_address: host.mesh,
});

async function until(what: string, check: () => Promise<boolean>) {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('peers follow hosts joining and leaving', async () => {
  const [a, b] = hosts;
  const store = new SqliteStore(join(dir, 'state.db'));
  const controller = new AbortController();
  const log = { warn() {}, info() {} };
  const following = [
    followMeshPeers(store, 'iad', a, { signal: controller.signal, log }),
    followMeshPeers(store, 'fra', b, { signal: controller.signal, log }),
  ];
  try {
    await store.put(keys.host('iad'), record('iad', a));
    await store.put(keys.host('fra'), record('fra', b));
    await until('fra reachable from iad over the mesh', async () => (await ping(a, b.mesh)).code === 0);
    assert.ok(((await meshTransfer(a)).get(b.publicKey)?.sent ?? 0) > 0);

    await store.delete(keys.host('fra'));
    await until('fra removed from iad', async () => (await meshTransfer(a)).size === 0);
    assert.notEqual((await ping(a, b.mesh)).code, 0);
  } finally {
    controller.abort();
    await Promise.allSettled(following);
    store.close?.();
  }
});
