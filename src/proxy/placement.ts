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
  /** Other regions nearest first, as last ranked (`rankRegions` with the previous order); absent: rank now. */
  ranks?: readonly string[];
}

/**
 * A region passes one ranked before it only when it is nearer by more than this many ms and
 * this share of the other's RTT: two regions about as near must not swap at every probe (each
 * swap moves every app's cross-region traffic and makes every proxy compare all its routes).
 */
export const RANK_MARGIN_MS = 2;
export const RANK_MARGIN_RATIO = 0.2;

const clearlyNearer = (rtt: number, than: number) =>
  than === Number.POSITIVE_INFINITY
    ? rtt < than
    : rtt < than - Math.max(RANK_MARGIN_MS, than * RANK_MARGIN_RATIO);

/** Tier 0 is this host, 1 this region's other hosts, 2… other regions nearest first. */
export interface Location {
  tier: number;
  /** Through this backhaul; absent: straight to the machine. */
  via?: ListenAddress;
  /** The RTT this proxy measured to that host's proxy (0 for this host); unknown until probed. */
  rttMs?: number;
}

/**
 * Other regions, nearest first: by the lowest RTT to any of their proxies; unmeasured ones last,
 * by name. Given the `previous` order, regions keep it unless one is clearly nearer than the one
 * before it (`RANK_MARGIN_MS`, `RANK_MARGIN_RATIO`); new regions come in by RTT after the known ones.
 */
export function rankRegions(placement: Placement, previous?: readonly string[]): string[] {
  const best = new Map<string, number>();
  for (const peer of placement.peers.values()) {
    if (peer.region === placement.region) continue;
    const rtt = peer.rttMs ?? Number.POSITIVE_INFINITY;
    best.set(peer.region, Math.min(best.get(peer.region) ?? Number.POSITIVE_INFINITY, rtt));
  }
  const byRtt = [...best].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])).map(([region]) => region);
  if (previous === undefined) return byRtt;
  const known = previous.filter((region) => best.has(region));
  const order = [...known, ...byRtt.filter((region) => !known.includes(region))];
  const rtt = (region: string) => best.get(region) ?? Number.POSITIVE_INFINITY;
  // Adjacent swaps while one is clearly nearer than the one before it: each swap removes an
  // inversion of the RTT order, so this ends.
  for (let swapped = true; swapped; ) {
    swapped = false;
    for (let index = 1; index < order.length; index++) {
      if (!clearlyNearer(rtt(order[index]), rtt(order[index - 1]))) continue;
      [order[index - 1], order[index]] = [order[index], order[index - 1]];
      swapped = true;
    }
  }
  return order;
}

/**
 * Where a machine on `host` is reached from here, or undefined when its host's proxy is not alive
 * (a dead host's machines take no requests). `ranks` from `rankRegions`.
 */
export function locate(placement: Placement, host: string, ranks: readonly string[]): Location | undefined {
  if (host === placement.host) return { tier: 0, rttMs: 0 };
  const peer = placement.peers.get(host);
  if (peer === undefined) return undefined;
  const rtt = peer.rttMs === undefined ? {} : { rttMs: peer.rttMs };
  if (peer.region === placement.region) return { tier: 1, via: peer.backhaul, ...rtt };
  const rank = ranks.indexOf(peer.region);
  return { tier: 2 + (rank < 0 ? ranks.length : rank), via: peer.backhaul, ...rtt };
}

/** The median of a window of samples (the RTT a proxy publishes). */
export function median(samples: readonly number[]): number | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
