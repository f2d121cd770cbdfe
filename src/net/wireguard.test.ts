// The WireGuard mesh between two "hosts" (network namespaces joined by a veth): real wireguard-go.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import {
  MESH_PORT,
  type MeshHost,
  makeMeshHosts,
  peerEachOther,
  ping,
} from '../../test/helpers/mesh-hosts.ts';
import { ensureMeshInterface, ensureMeshKeys, meshTransfer, setMeshPeers } from './wireguard.ts';

let hosts: MeshHost[] = [];
let remove = async () => {};
before(async () => ({ hosts, remove } = await makeMeshHosts('nbwg')));
after(() => remove());

test('two hosts reach each other over the mesh, and a removed peer is unreachable', async () => {
  const [a, b] = hosts;
  assert.equal((await stat(a.privateKeyPath)).mode & 0o777, 0o600);
  // A restart keeps the key: the public key the other hosts know stays valid.
  assert.equal((await ensureMeshKeys(a.dataDir)).publicKey, a.publicKey);
  await peerEachOther(a, b);
  const result = await ping(a, b.mesh);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const sent = (await meshTransfer(a)).get(b.publicKey)?.sent ?? 0;
  assert.ok(sent > 0, 'the ping crossed the WireGuard interface');

  // Re-running on the same interface (an agent restart) converges without breaking the path.
  await ensureMeshInterface({ ...a, listenPort: MESH_PORT, addresses: [`${a.mesh}/128`] });
  assert.equal((await ping(a, b.mesh)).code, 0);

  // b leaves: a drops it; nothing reaches b's mesh address any more.
  await setMeshPeers(a, []);
  assert.equal((await meshTransfer(a)).size, 0);
  assert.notEqual((await ping(a, b.mesh)).code, 0);
});
