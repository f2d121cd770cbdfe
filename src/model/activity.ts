/**
 * What one proxy saw of its own host's machines (`machine-activity/<region>/<host>`, written by
 * that proxy, read by the holder of `leases/autostop/<region>`): src/proxy/autostop-activity.ts.
 */
export interface MachineActivityRecord {
  host: string;
  region: string;
  /** When the proxy wrote it, by its clock. */
  updated_at: string;
  /** Per machine on this host: when a request last reached it, and the sessions open at the sample. */
  machines: Record<string, { last_active_at: string; sessions: number }>;
  /**
   * Per app: when this proxy last sent one of its requests to a machine of another region because
   * its own region had none started (the region's decider wakes one of its own for that demand).
   */
  served_elsewhere?: Record<string, string>;
}
