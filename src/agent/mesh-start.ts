/**
 * This host on the WireGuard mesh (`--mesh-listen`): its key, its interface, the fields its
 * `hosts/` record publishes, and the two loops that keep the peers (mesh.ts) and the org sets of the
 * receiving side (mesh-orgs.ts) equal to the store. The interface outlives the agent, like the
 * bridge: machines keep talking across hosts while nearby restarts; `nearby host clean` removes it.
 */
import type { HostRecord } from '../model/mod.ts';
import { ensureMeshGuard, MESH_HOSTS_PREFIX } from '../net/mesh-rules.ts';
import { ensureMeshInterface, ensureMeshKeys, meshInterfaceName } from '../net/wireguard.ts';
import type { Store } from '../store/mod.ts';
import type { OutageLog } from '../store/outage.ts';
import { followMeshPeers } from './mesh.ts';
import { followMeshOrgs } from './mesh-orgs.ts';

export type MeshFields = Required<
  Pick<HostRecord, 'wireguard_public_key' | 'mesh_endpoint' | 'mesh_address'>
>;

/** The interface of the host whose data dir is `dataDir`: unique per host on one machine (the
 *  world's hosts share /var/run/wireguard), and found again by `nearby host clean`. */
export const meshInterfaceOf = (dataDir: string) => meshInterfaceName(dataDir);

/** `fdaa:0:ff::/64` holds the hosts' own mesh addresses, outside the machines' pool; the host part
 *  is its IPv4 (unique among hosts, as their endpoints are), or a hash for an IPv6 one. */
const MESH_NET = MESH_HOSTS_PREFIX.replace('/64', '');

export function meshAddress(listen: string): string {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const octets = host.split('.').map(Number);
  if (octets.length === 4 && octets.every((octet) => octet >= 0 && octet <= 255)) {
    const hex = (a: number, b: number) => ((a << 8) | b).toString(16);
    return `${MESH_NET}${hex(octets[0], octets[1])}:${hex(octets[2], octets[3])}`;
  }
  const words = host.split(':').filter(Boolean).slice(-2);
  return `${MESH_NET}${words.join(':') || '1'}`;
}

export async function startMesh(options: {
  store: Store;
  host: string;
  dataDir: string;
  bridge: string;
  /** `address:port` other hosts send to; the socket listens on that port on every address. A
   *  wildcard address (`0.0.0.0`, `::`, none) stands for `hostAddress`, the host's `--address`. */
  listen: string;
  hostAddress: string;
  signal: AbortSignal;
  log: OutageLog & { error(fields: object, message: string): void };
}): Promise<{ fields: MeshFields; name: string; done: Promise<void> }> {
  const { store, host, signal, log } = options;
  const port = options.listen.slice(options.listen.lastIndexOf(':') + 1);
  const given = options.listen.slice(0, options.listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const reachable = given === '' || given === '0.0.0.0' || given === '::' ? options.hostAddress : given;
  const endpoint = reachable.includes(':') ? `[${reachable}]:${port}` : `${reachable}:${port}`;
  const keys = await ensureMeshKeys(options.dataDir);
  const name = meshInterfaceOf(options.dataDir);
  const address = meshAddress(endpoint);
  // The receiving side's check exists (empty: nothing gets in) before the interface does.
  await ensureMeshGuard(options.bridge, name);
  await ensureMeshInterface({
    name,
    privateKeyPath: keys.privateKeyPath,
    listenPort: Number(port),
    addresses: [`${address}/128`],
  });
  const stopped = (what: string) => (error: unknown) => {
    if (!signal.aborted) log.error({ err: error }, `mesh stopped ${what}`);
  };
  const done = Promise.all([
    followMeshPeers(store, host, { name }, { signal, log }).catch(stopped('following hosts')),
    followMeshOrgs(store, host, { bridge: options.bridge, meshInterface: name }, { signal, log }).catch(
      stopped('following machines'),
    ),
  ]).then(() => {});
  return {
    fields: { wireguard_public_key: keys.publicKey, mesh_endpoint: endpoint, mesh_address: address },
    name,
    done,
  };
}
