/**
 * The WireGuard peers a host wants, derived from the `hosts/` records: every other host on the
 * mesh, allowed exactly its mesh address and its machine subnets, so cryptokey routing drops a
 * packet whose source another host does not own (the anti-spoofing across hosts).
 */
import type { HostRecord } from '../model/mod.ts';
import type { MeshPeer } from '../net/wireguard.ts';

function hostPrefix(address: string): string {
  return address.includes(':') ? `${address}/128` : `${address}/32`;
}

export function meshPeers(self: string, hosts: HostRecord[]): MeshPeer[] {
  const peers: MeshPeer[] = [];
  for (const host of hosts) {
    if (host.name === self || !host.wireguard_public_key || !host.mesh_endpoint || !host.mesh_address)
      continue;
    const subnets = [host.subnet6, host.subnet4].filter((subnet): subnet is string => Boolean(subnet));
    peers.push({
      publicKey: host.wireguard_public_key,
      endpoint: host.mesh_endpoint,
      allowedIps: [hostPrefix(host.mesh_address), ...subnets],
    });
  }
  return peers.sort((x, y) => x.publicKey.localeCompare(y.publicKey));
}
