/**
 * Where a proxy in a cluster sends an app's requests: machines on its own host directly, the
 * others through their host's proxy (the backhaul), in tiers — own host, then own region, then the
 * other regions by the round-trip time this proxy measured to their proxies. HAProxy balances
 * (leastconn) within the nearest tier that has a machine. Pure, so the ranking is tested alone.
 */
import type { ListenAddress } from './haproxy-config.ts';

/** Another host's proxy, seen alive (its record refreshed within the staleness window). */
export interface Peer {
  host: string;
  region: string;
  backhaul: ListenAddress;
  /** The median round-trip time this proxy measured to it; unknown until probed. */
  rttMs?: number;
}

export interface Placement {
  host: string;
  region: string;
  /** Live peers by host name (this host left out). */
  peers: ReadonlyMap<string, Peer>;
}

/** Tier 0 is this host, 1 this region's other hosts, 2… other regions nearest first. */
export interface Location {
  tier: number;
  /** Through this backhaul; absent: straight to the machine. */
  via?: ListenAddress;
}

/** Other regions, nearest first: by the lowest RTT to any of their proxies; unmeasured ones last, by name. */
export function rankRegions(placement: Placement): string[] {
  const best = new Map<string, number>();
  for (const peer of placement.peers.values()) {
    if (peer.region === placement.region) continue;
    const rtt = peer.rttMs ?? Number.POSITIVE_INFINITY;
    best.set(peer.region, Math.min(best.get(peer.region) ?? Number.POSITIVE_INFINITY, rtt));
  }
  return [...best].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([region]) => region);
}

/**
 * Where a machine on `host` is reached from here, or undefined when its host's proxy is not alive
 * (a dead host's machines take no requests). `ranks` from `rankRegions`.
 */
export function locate(placement: Placement, host: string, ranks: readonly string[]): Location | undefined {
  if (host === placement.host) return { tier: 0 };
  const peer = placement.peers.get(host);
  if (peer === undefined) return undefined;
  if (peer.region === placement.region) return { tier: 1, via: peer.backhaul };
  const rank = ranks.indexOf(peer.region);
  return { tier: 2 + (rank < 0 ? ranks.length : rank), via: peer.backhaul };
}

/** The median of a window of samples (the RTT a proxy publishes). */
export function median(samples: readonly number[]): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
