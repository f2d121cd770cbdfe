/**
 * Autoscaling by location (docs/autoscale.md): the app's `[autoscale]` limits as a release carries
 * them, what each proxy counts of an app's demand (`demand/<app>/<host>`), and the decisions the
 * autoscaler took (`autoscale/decisions/<app>`, a bounded list).
 */

/** `[autoscale]` of nearby.toml, normalized: every key has its value. */
export interface AutoscaleConfig {
  min_machines: number;
  max_machines: number;
  /** Regions machines may be added in; empty: any region with a live host. */
  regions: string[];
  /** Concurrent requests one machine should carry; above it, a region gets more machines. */
  target_concurrency: number;
  /** Machines added (per region) by one decision. */
  scale_up_step: number;
  /** Machines removed (per region) by one decision. */
  scale_down_step: number;
  /** ms: after a change in a region, nothing else changes there for this long; also how long a machine must be idle to go. */
  cooldown: number;
}

export const autoscaleDefaults: Omit<AutoscaleConfig, 'regions'> = {
  min_machines: 1,
  max_machines: 10,
  target_concurrency: 20,
  scale_up_step: 1,
  scale_down_step: 1,
  cooldown: 60_000,
};

/** Requests one proxy forwarded for an app to one serving region, over the last interval. */
export interface DemandServed {
  /** Requests completed or begun since the previous record. */
  requests: number;
  /** Requests in flight at the sample. */
  concurrency: number;
  /** The RTT this proxy measured to that region (0 for its own host's machines). */
  rtt_ms: number;
  /**
   * The median and 95th percentile, in ms, of the time from this proxy routing a request that
   * entered it to the machine's response head, over the interval (src/proxy/route-latency.ts);
   * absent when no response was measured.
   */
  p50_ms?: number;
  p95_ms?: number;
}

/**
 * What one proxy saw of one app over `interval_ms`: requests that entered it (its region) by the
 * region that served them. `local` counts what its own host's machines served, whatever proxy the
 * request entered (requests from other regions arrive through the backhaul at the same servers):
 * the merge subtracts what the other proxies say they sent here (demand.ts).
 */
export interface DemandRecord {
  app: string;
  host: string;
  /** The entry region: this proxy's. */
  region: string;
  at: string;
  interval_ms: number;
  /** By serving region. */
  served: Record<string, DemandServed>;
}

/** One decision of the autoscaler, with the figures behind it. */
export interface AutoscaleDecision {
  at: string;
  action: 'add' | 'remove' | 'hold';
  region: string;
  count: number;
  /** One line a person reads. */
  reason: string;
  /** The figures behind it (demand, machines, thresholds). */
  figures: Record<string, number | string>;
  /** For a `hold`: what stopped the growth (told once until that changes). */
  blocked_by?: 'max_machines' | 'spending_cap';
  /** Machines created or destroyed, once carried out. */
  machines?: string[];
}

export interface AutoscaleDecisionsRecord {
  app: string;
  decisions: AutoscaleDecision[];
}

/** How many decisions `autoscale/decisions/<app>` keeps (newest last). */
export const DECISIONS_KEPT = 50;
