/** Two "hosts" for the WireGuard mesh's tests and bench: namespaces joined by a veth (the bare
 *  link, `u0`), each with a key pair and a running mesh interface; `remove` undoes all of it. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mustRun, runCommand } from '../../src/net/command.ts';
import { deleteNetns, ensureNetns } from '../../src/net/netns.ts';
import {
  deleteMeshInterface,
  ensureMeshInterface,
  ensureMeshKeys,
  meshInterfaceName,
  setMeshPeers,
} from '../../src/net/wireguard.ts';

export const MESH_PORT = 51820;

export interface MeshHost {
  netns: string;
  name: string;
  underlay: string;
  mesh: string;
  dataDir: string;
  publicKey: string;
  privateKeyPath: string;
}

export async function makeMeshHosts(
  prefix: string,
): Promise<{ hosts: MeshHost[]; remove: () => Promise<void> }> {
  const tag = randomBytes(2).toString('hex');
  const hosts: MeshHost[] = ['a', 'b'].map((side, index) => ({
    netns: `${prefix}${tag}${side}`,
    name: meshInterfaceName(`${prefix}-${tag}-${side}`),
    underlay: `10.250.${Number.parseInt(tag.slice(0, 2), 16)}.${index + 1}`,
    mesh: `fdaa:ff:${tag}::${index + 1}`,
    dataDir: '',
    publicKey: '',
    privateKeyPath: '',
  }));
  const remove = async () => {
    for (const host of hosts) {
      await deleteMeshInterface(host).catch(() => {});
      await deleteNetns(host.netns);
      if (host.dataDir) await rm(host.dataDir, { recursive: true, force: true });
    }
  };
  try {
    for (const host of hosts) {
      await ensureNetns(host.netns);
      host.dataDir = await mkdtemp(join(tmpdir(), 'nbwg-'));
      Object.assign(host, await ensureMeshKeys(host.dataDir));
    }
    const [a, b] = hosts;
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
      await ensureMeshInterface({ ...host, listenPort: MESH_PORT, addresses: [`${host.mesh}/128`] });
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { hosts, remove };
}

export function ping(from: MeshHost, to: string) {
  return runCommand('ip', ['netns', 'exec', from.netns, 'ping', '-c', '1', '-W', '2', to]);
}

/** Makes each host the other's one peer, by hand (the agent does it from `hosts/` records). */
export async function peerEachOther(a: MeshHost, b: MeshHost) {
  for (const [self, other] of [
    [a, b],
    [b, a],
  ]) {
    await setMeshPeers(self, [
      {
        publicKey: other.publicKey,
        endpoint: `${other.underlay}:${MESH_PORT}`,
        allowedIps: [`${other.mesh}/128`],
      },
    ]);
  }
}
