/**
 * Autostop's view of a region, pure: each proxy turns its idle clock into a small record of its own
 * host's machines (`machine-activity/<region>/<host>`), and the region's decider merges every
 * proxy's record into one load per machine. A machine is counted by the proxy of its own host
 * only: a request from another host crosses the backhaul into that host's HAProxy, so its counters
 * see it too, and the first proxy's slot for the remote machine is left out (never counted twice).
 */
import type { MachineActivityRecord } from '../model/activity.ts';
import type { MachineLoad } from './autostop-stats.ts';

/** A machine as the region sees it: the latest activity any proxy reported, sessions summed. */
export interface MergedActivity {
  lastActive: number;
  sessions: number;
}

export interface ActivityInput {
  host: string;
  region: string;
  now: number;
  /** This host's machines: load at the last sample and when each was last active (ms epoch). */
  machines: Map<string, { load: MachineLoad; lastActive: number }>;
  /** App → when this proxy last sent a request of it to another region's machine (ms epoch). */
  servedElsewhere: Map<string, number>;
}

/** The record a proxy publishes; `updated_at` aside, the same input gives the same record. */
export function activityRecord(input: ActivityInput): MachineActivityRecord {
  const machines: MachineActivityRecord['machines'] = {};
  for (const [id, { load, lastActive }] of [...input.machines].sort(([a], [b]) => a.localeCompare(b))) {
    machines[id] = { last_active_at: new Date(lastActive).toISOString(), sessions: load.sessions };
  }
  const record: MachineActivityRecord = {
    host: input.host,
    region: input.region,
    updated_at: new Date(input.now).toISOString(),
    machines,
  };
  if (input.servedElsewhere.size > 0) {
    record.served_elsewhere = Object.fromEntries(
      [...input.servedElsewhere]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([app, at]) => [app, new Date(at).toISOString()]),
    );
  }
  return record;
}

/** Whether a new record says anything the last one published did not (its time aside). */
export function activityChanged(
  previous: MachineActivityRecord | undefined,
  next: MachineActivityRecord,
): boolean {
  if (previous === undefined) return true;
  const strip = ({ updated_at: _at, ...rest }: MachineActivityRecord) => JSON.stringify(rest);
  return strip(previous) !== strip(next);
}

/**
 * Every proxy's record of the region merged: per machine the latest `last_active_at` and the sum
 * of sessions (one proxy reports a machine, but a host renamed or a record left by an earlier run
 * may name it too: the busiest view wins). Records of other regions are ignored. A machine no
 * record names is absent: autostop never stops what nobody reports on.
 */
export function mergeActivity(
  region: string,
  records: Iterable<MachineActivityRecord>,
): { machines: Map<string, MergedActivity>; servedElsewhere: Map<string, number> } {
  const machines = new Map<string, MergedActivity>();
  const servedElsewhere = new Map<string, number>();
  for (const record of records) {
    if (record.region !== region) continue;
    for (const [id, seen] of Object.entries(record.machines ?? {})) {
      const at = Date.parse(seen.last_active_at);
      if (Number.isNaN(at)) continue;
      const merged = machines.get(id);
      const sessions = Math.max(0, Number(seen.sessions) || 0);
      if (merged === undefined) machines.set(id, { lastActive: at, sessions });
      else
        machines.set(id, {
          lastActive: Math.max(merged.lastActive, at),
          sessions: merged.sessions + sessions,
        });
    }
    for (const [app, when] of Object.entries(record.served_elsewhere ?? {})) {
      const at = Date.parse(when);
      if (!Number.isNaN(at)) servedElsewhere.set(app, Math.max(servedElsewhere.get(app) ?? 0, at));
    }
  }
  return { machines, servedElsewhere };
}
