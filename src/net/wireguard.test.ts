// The WireGuard mesh between two "hosts" (network namespaces joined by a veth): real wireguard-go.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { mustRun, runCommand } from './command.ts';
import { deleteNetns, ensureNetns } from './netns.ts';
import {
  deleteMeshInterface,
  ensureMeshInterface,
  ensureMeshKeys,
  meshInterfaceName,
  meshTransfer,
  setMeshPeers,
} from './wireguard.ts';

const tag = randomBytes(2).toString('hex');
const hosts = ['a', 'b'].map((side, index) => ({
  netns: `nbwg${tag}${side}`,
  name: meshInterfaceName(`test-${tag}-${side}`),
  underlay: `10.250.${Number.parseInt(tag.slice(0, 2), 16)}.${index + 1}`,
  mesh: `fdaa:ff:${tag}::${index + 1}`,
  dataDir: '',
  publicKey: '',
  privateKeyPath: '',
}));
const [a, b] = hosts;

const ping = (from: (typeof hosts)[0], to: string) =>
  runCommand('ip', ['netns', 'exec', from.netns, 'ping', '-c', '1', '-W', '2', to]);

before(async () => {
  for (const host of hosts) {
    await ensureNetns(host.netns);
    host.dataDir = await mkdtemp(join(tmpdir(), 'nbwg-'));
  }
  await mustRun('ip', [
    '-n',
    a.netns,
    'link',
    'add',
    'u0',
    'type',
    'veth',
    'peer',
    'name',
    'u0',
    'netns',
    b.netns,
  ]);
  for (const host of hosts) {
    await mustRun('ip', ['-n', host.netns, 'address', 'add', `${host.underlay}/24`, 'dev', 'u0']);
    await mustRun('ip', ['-n', host.netns, 'link', 'set', 'u0', 'up']);
    await mustRun('ip', ['-n', host.netns, 'link', 'set', 'lo', 'up']);
  }
});

after(async () => {
  for (const host of hosts) {
    await deleteMeshInterface(host).catch(() => {});
    await deleteNetns(host.netns);
    if (host.dataDir) await rm(host.dataDir, { recursive: true, force: true });
  }
});

test('two hosts reach each other over the mesh, and a removed peer is unreachable', async () => {
  for (const host of hosts) {
    const keys = await ensureMeshKeys(host.dataDir);
    Object.assign(host, keys);
    assert.equal((await stat(keys.privateKeyPath)).mode & 0o777, 0o600);
    // A restart keeps the key: the public key the other hosts know stays valid.
    assert.equal((await ensureMeshKeys(host.dataDir)).publicKey, keys.publicKey);
    await ensureMeshInterface({ ...host, listenPort: 51820, addresses: [`${host.mesh}/128`] });
  }
  for (const [self, other] of [
    [a, b],
    [b, a],
  ]) {
    await setMeshPeers(self, [
      { publicKey: other.publicKey, endpoint: `${other.underlay}:51820`, allowedIps: [`${other.mesh}/128`] },
    ]);
  }
  const result = await ping(a, b.mesh);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  const sent = (await meshTransfer(a)).get(b.publicKey)?.sent ?? 0;
  assert.ok(sent > 0, 'the ping crossed the WireGuard interface');

  // Re-running on the same interface (an agent restart) converges without breaking the path.
  await ensureMeshInterface({ ...a, listenPort: 51820, addresses: [`${a.mesh}/128`] });
  assert.equal((await ping(a, b.mesh)).code, 0);

  // b leaves: a drops it; nothing reaches b's mesh address any more.
  await setMeshPeers(a, []);
  assert.equal((await meshTransfer(a)).size, 0);
  assert.notEqual((await ping(a, b.mesh)).code, 0);
});
