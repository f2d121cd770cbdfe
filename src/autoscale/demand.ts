/**
 * Every proxy's demand records of an app merged into demand per region (pure): what entered each
 * region, how much of it was served far away and at what RTT, and the load on each region's own
 * machines. A proxy's `local` counts include requests other regions' proxies sent it through the
 * backhaul (they reach the same servers), so what entered a region and stayed there is its local
 * count less what the others say they sent to it.
 */
import type { DemandRecord, ProxyRecord } from '../model/mod.ts';

export interface RegionDemand {
  /** Requests per second that entered the region (its proxies). */
  enteredRps: number;
  enteredConcurrency: number;
  /** Of those, served in another region. */
  farRps: number;
  farConcurrency: number;
  /** The mean RTT beyond the edge the far ones paid, weighted by requests. */
  farRttMs: number;
  /** The region that served most of the far ones. */
  farServedIn?: string;
  /** What the region's own machines carried, whatever region the requests entered. */
  loadRps: number;
  loadConcurrency: number;
}

/** A record older than this many of its intervals is ignored: its proxy saw no traffic since, or is gone. */
export const STALE_INTERVALS = 3;

export const emptyDemand = (): RegionDemand => ({
  enteredRps: 0,
  enteredConcurrency: 0,
  farRps: 0,
  farConcurrency: 0,
  farRttMs: 0,
  loadRps: 0,
  loadConcurrency: 0,
});

/** The fresh records of one app, merged by region. */
export function mergeDemand(records: readonly DemandRecord[], now: number): Map<string, RegionDemand> {
  const regions = new Map<string, RegionDemand>();
  const of = (region: string) => {
    const demand = regions.get(region) ?? emptyDemand();
    regions.set(region, demand);
    return demand;
  };
  /** Requests and concurrency other regions sent to each region through the backhaul. */
  const sentTo = new Map<string, { rps: number; concurrency: number }>();
  const local = new Map<string, { rps: number; concurrency: number }>();
  const farBy = new Map<string, Map<string, number>>();
  const rttWeight = new Map<string, number>();
  for (const record of records) {
    const at = Date.parse(record.at);
    if (!(now - at <= STALE_INTERVALS * record.interval_ms)) continue;
    const seconds = Math.max(record.interval_ms, 1) / 1000;
    for (const [served, counts] of Object.entries(record.served)) {
      const rps = counts.requests / seconds;
      if (served === record.region) {
        const mine = local.get(served) ?? { rps: 0, concurrency: 0 };
        local.set(served, { rps: mine.rps + rps, concurrency: mine.concurrency + counts.concurrency });
        continue;
      }
      const entry = of(record.region);
      entry.farRps += rps;
      entry.farConcurrency += counts.concurrency;
      rttWeight.set(record.region, (rttWeight.get(record.region) ?? 0) + rps * counts.rtt_ms);
      const by = farBy.get(record.region) ?? new Map<string, number>();
      by.set(served, (by.get(served) ?? 0) + rps + counts.concurrency);
      farBy.set(record.region, by);
      const sent = sentTo.get(served) ?? { rps: 0, concurrency: 0 };
      sentTo.set(served, { rps: sent.rps + rps, concurrency: sent.concurrency + counts.concurrency });
    }
  }
  for (const [region, mine] of local) {
    const entry = of(region);
    entry.loadRps += mine.rps;
    entry.loadConcurrency += mine.concurrency;
    const sent = sentTo.get(region) ?? { rps: 0, concurrency: 0 };
    // Windows of different proxies do not line up: never below nothing.
    entry.enteredRps += Math.max(0, mine.rps - sent.rps);
    entry.enteredConcurrency += Math.max(0, mine.concurrency - sent.concurrency);
  }
  for (const [region, entry] of regions) {
    entry.enteredRps += entry.farRps;
    entry.enteredConcurrency += entry.farConcurrency;
    if (entry.farRps > 0) entry.farRttMs = (rttWeight.get(region) ?? 0) / entry.farRps;
    const by = farBy.get(region);
    if (by !== undefined) entry.farServedIn = [...by].sort((a, b) => b[1] - a[1])[0]?.[0];
  }
  return regions;
}

/** Region → region → RTT ms, from the RTTs proxies publish (the lowest between any two of their hosts). */
export type RttMatrix = Map<string, Map<string, number>>;

export function rttMatrix(proxies: readonly ProxyRecord[]): RttMatrix {
  const regionOf = new Map(proxies.map((proxy) => [proxy.host, proxy.region]));
  const matrix: RttMatrix = new Map();
  for (const proxy of proxies) {
    for (const [peer, rtt] of Object.entries(proxy.rtt_ms ?? {})) {
      const to = regionOf.get(peer);
      if (to === undefined || to === proxy.region) continue;
      for (const [a, b] of [
        [proxy.region, to],
        [to, proxy.region],
      ]) {
        const row = matrix.get(a) ?? new Map<string, number>();
        row.set(b, Math.min(row.get(b) ?? Number.POSITIVE_INFINITY, rtt));
        matrix.set(a, row);
      }
    }
  }
  return matrix;
}

export function rttBetween(matrix: RttMatrix, a: string, b: string): number | undefined {
  return a === b ? 0 : matrix.get(a)?.get(b);
}
