/**
 * The latency users got, per route (this entry region → the serving region), for the demand
 * records the dashboard shows (demand.ts, docs/dashboard.md). HAProxy counts each response of an
 * app's HTTP backend in a stick table, one entry per server slot and latency bucket, unless the
 * request came in over the backhaul (it entered at, and is counted by, another proxy); every
 * demand pass reads the table, takes what grew since the last pass, and turns the buckets of an
 * app's slots in one serving region into a p50 and a p95. Node does nothing per request.
 */

export const ROUTE_LATENCY_TABLE = 'nearby_route_latency';

/**
 * Upper bounds of the buckets, in ms: about 1.5× apart, so a percentile read from them is within
 * a third of the truth, from a request on the same host (≤ 1 ms) to one across the world.
 */
export const ROUTE_LATENCY_BOUNDS_MS = [
  1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000,
  10000,
];

/** `map_int` ranges of whole milliseconds to the bucket's upper bound (`+Inf` past the last). */
export function renderRouteLatencyMap(): string {
  let low = 0;
  return ROUTE_LATENCY_BOUNDS_MS.map((bound) => {
    const line = `${low}:${bound} ${bound}\n`;
    low = bound + 1;
    return line;
  }).join('');
}

/**
 * Lines for an app's HTTP backend, after `latencyLines` (http-stats.ts) set `txn.nb_t0` when the
 * request was routed: the time to the machine's response head, counted under `<slot>;<bucket>`.
 * sc0, the one sticky counter left (HAProxy 2.6 has three: egress uses sc1, the metrics sc2).
 */
export function routeLatencyLines(routeLatencyMap: string): string[] {
  const entered = 'unless { fe_name nearby_backhaul }';
  return [
    `  http-response set-var(txn.nb_rle) date(0,ms),sub(txn.nb_t0),map_int("${routeLatencyMap}",+Inf) ${entered}`,
    `  http-response track-sc0 srv_name,concat(;,txn.nb_rle) table ${ROUTE_LATENCY_TABLE} ${entered}`,
    `  http-response sc-inc-gpc0(0) ${entered}`,
  ];
}

export function routeLatencyTableLines(): string[] {
  // An entry is a counter; slots idle for 10 minutes are forgotten (the demand pass counts an
  // entry that comes back from zero).
  return [
    '',
    `backend ${ROUTE_LATENCY_TABLE}`,
    '  stick-table type string len 128 size 200k expire 10m store gpc0',
  ];
}

/** `show table`: `0x…: key=<slot>;<bucket> use=0 exp=… gpc0=<n>` lines, by slot then bucket. */
export function parseRouteLatencyTable(answer: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of answer.matchAll(/ key=(\S+;\S+) .*?gpc0=(\d+)/g))
    counts.set(match[1], Number(match[2]));
  return counts;
}

/** A histogram: bucket upper bound in ms (`Infinity` for `+Inf`) → responses. */
export type LatencyHistogram = Map<number, number>;

/**
 * What each slot's buckets counted since the last sample. The first sample is the baseline (the
 * table may be older than this process); afterwards an entry seen for the first time, or lower
 * than before (a reload's new worker, an entry expired and back), counts from zero.
 */
export class RouteLatencyCounts {
  #last: Map<string, number> | undefined;

  /** `table`: `parseRouteLatencyTable`'s. Returns slot → histogram of the responses since the last call. */
  update(table: Map<string, number>): Map<string, LatencyHistogram> {
    const last = this.#last;
    this.#last = table;
    const bySlot = new Map<string, LatencyHistogram>();
    if (last === undefined) return bySlot;
    for (const [key, value] of table) {
      const before = last.get(key);
      const grown = before === undefined || value < before ? value : value - before;
      if (grown === 0) continue;
      const cut = key.lastIndexOf(';');
      const [slot, bucket] = [key.slice(0, cut), key.slice(cut + 1)];
      const bound = bucket === '+Inf' ? Number.POSITIVE_INFINITY : Number(bucket);
      if (Number.isNaN(bound)) continue;
      const histogram = bySlot.get(slot) ?? new Map();
      histogram.set(bound, (histogram.get(bound) ?? 0) + grown);
      bySlot.set(slot, histogram);
    }
    return bySlot;
  }
}

/** Adds `from` into `into`. */
export function addHistogram(into: LatencyHistogram, from: LatencyHistogram): void {
  for (const [bound, count] of from) into.set(bound, (into.get(bound) ?? 0) + count);
}

const bucketFloor = (bound: number) => {
  const index = ROUTE_LATENCY_BOUNDS_MS.indexOf(bound);
  return index <= 0 ? 0 : ROUTE_LATENCY_BOUNDS_MS[index - 1];
};

/**
 * The `quantile` (0–1) of a histogram in ms, interpolated linearly within its bucket (as
 * Prometheus' `histogram_quantile` does), rounded to 0.1 ms; past the last bound, that bound.
 * Undefined for an empty histogram.
 */
export function latencyQuantile(histogram: LatencyHistogram, quantile: number): number | undefined {
  const buckets = [...histogram].filter(([, count]) => count > 0).sort(([a], [b]) => a - b);
  const total = buckets.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return undefined;
  const rank = quantile * total;
  let below = 0;
  for (const [bound, count] of buckets) {
    if (below + count >= rank) {
      const last = ROUTE_LATENCY_BOUNDS_MS[ROUTE_LATENCY_BOUNDS_MS.length - 1];
      if (bound === Number.POSITIVE_INFINITY) return last;
      const floor = bucketFloor(bound);
      return Math.round((floor + ((bound - floor) * (rank - below)) / count) * 10) / 10;
    }
    below += count;
  }
  return undefined;
}
