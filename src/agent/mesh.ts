/**
 * Keeps this host's WireGuard peers equal to the other meshed hosts in `hosts/`: a host joining
 * is added, a host whose record is deleted (it left) is removed. Heartbeats rewrite records every
 * few seconds, so the peers are only set again when the wanted set changed.
 */
import { type HostRecord, keys } from '../model/mod.ts';
import { type MeshInterface, setMeshPeers } from '../net/wireguard.ts';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/mod.ts';
import type { OutageLog } from '../store/outage.ts';
import { meshPeers } from './mesh-peers.ts';

export async function followMeshPeers(
  store: Store,
  self: string,
  mesh: Pick<MeshInterface, 'name' | 'netns'>,
  options: { signal: AbortSignal; log: OutageLog },
): Promise<void> {
  const hosts = new Map<string, HostRecord>();
  let applied = '';
  let synced = false;
  const events = follow<HostRecord>(store, keys.hosts(), { ...options, what: 'mesh peers' });
  for await (const event of events) {
    if (event.type === 'put') hosts.set(event.key, event.value);
    else if (event.type === 'delete') hosts.delete(event.key);
    else synced = true;
    if (!synced) continue;
    const peers = meshPeers(self, [...hosts.values()]);
    const wanted = JSON.stringify(peers);
    if (wanted === applied) continue;
    await setMeshPeers(mesh, peers);
    applied = wanted;
  }
}
