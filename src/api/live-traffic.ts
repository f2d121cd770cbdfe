/**
 * An app's traffic by route, entry region → serving region, from the edge proxies' demand records
 * (`demand/<app>/<host>`, written every 2 s by each proxy that had the app's traffic; docs/autoscale.md).
 * Rates are computed here, on the server: each record already holds the requests of its own
 * interval, so requests/s is `requests / interval`, and no state is kept between events.
 * Sent by the live stream (routes/live.ts) as its `traffic` event.
 */
import { STALE_INTERVALS } from '../autoscale/demand.ts';
import type { DemandRecord } from '../model/autoscale.ts';

export interface TrafficRoute {
  /** The region whose proxy the requests entered. */
  entry: string;
  /** The region of the machines that served them. */
  served: string;
  /** Requests per second over the proxies' last interval. */
  rps: number;
  /** Requests in flight at the proxies' last sample. */
  in_flight: number;
  /** The RTT beyond the edge the requests paid to reach the serving region (0 when served where they entered). */
  rtt_ms: number;
  /**
   * Median and 95th percentile, in ms, of the time from the entry proxy routing a request to the
   * machine's response head (src/proxy/route-latency.ts); absent when no response was measured.
   */
  p50_ms?: number;
  p95_ms?: number;
}

const round = (value: number) => Math.round(value * 100) / 100;

/** Each entry proxy's percentiles of a route, weighted by its requests, to merge hosts of one region. */
interface Percentiles {
  weight: number;
  p50: number;
  p95: number;
}

/**
 * The fresh records merged by route. A proxy's own-region counts also hold what other regions'
 * proxies sent to its host through the backhaul (they reach the same servers), so a route that
 * stays in its region counts what the others say they sent there less, as the autoscaler's merge does.
 * Latency needs no such correction (a proxy measures only what entered it); two hosts of one region
 * are merged by their requests' weight, an approximation of the whole's percentiles that is exact
 * for the usual one host per region.
 */
export function appTraffic(records: Iterable<DemandRecord>, now: number): TrafficRoute[] {
  const routes = new Map<string, TrafficRoute>();
  const sentTo = new Map<string, { rps: number; inFlight: number }>();
  const latency = new Map<string, Percentiles>();
  for (const record of records) {
    if (!(now - Date.parse(record.at) <= STALE_INTERVALS * record.interval_ms)) continue;
    const seconds = Math.max(record.interval_ms, 1) / 1000;
    for (const [served, counts] of Object.entries(record.served)) {
      const key = `${record.region}>${served}`;
      const route = routes.get(key) ?? { entry: record.region, served, rps: 0, in_flight: 0, rtt_ms: 0 };
      route.rps += counts.requests / seconds;
      route.in_flight += counts.concurrency;
      route.rtt_ms = Math.max(route.rtt_ms, counts.rtt_ms);
      routes.set(key, route);
      if (counts.p50_ms !== undefined && counts.p95_ms !== undefined) {
        const seen = latency.get(key) ?? { weight: 0, p50: 0, p95: 0 };
        const weight = Math.max(counts.requests, 1);
        latency.set(key, {
          weight: seen.weight + weight,
          p50: seen.p50 + counts.p50_ms * weight,
          p95: seen.p95 + counts.p95_ms * weight,
        });
      }
      if (served === record.region) continue;
      const sent = sentTo.get(served) ?? { rps: 0, inFlight: 0 };
      sentTo.set(served, {
        rps: sent.rps + counts.requests / seconds,
        inFlight: sent.inFlight + counts.concurrency,
      });
    }
  }
  const result: TrafficRoute[] = [];
  for (const [key, route] of routes) {
    const sent = route.entry === route.served ? sentTo.get(route.served) : undefined;
    // Windows of different proxies do not line up: never below nothing.
    const rps = Math.max(0, route.rps - (sent?.rps ?? 0));
    const inFlight = Math.max(0, route.in_flight - (sent?.inFlight ?? 0));
    if (rps === 0 && inFlight === 0) continue;
    const measured = latency.get(key);
    const percentiles = measured && {
      p50_ms: Math.round((measured.p50 / measured.weight) * 10) / 10,
      p95_ms: Math.round((measured.p95 / measured.weight) * 10) / 10,
    };
    result.push({ ...route, rps: round(rps), in_flight: inFlight, ...percentiles });
  }
  return result.sort((a, b) => a.entry.localeCompare(b.entry) || a.served.localeCompare(b.served));
}
