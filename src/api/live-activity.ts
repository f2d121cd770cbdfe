/**
 * What the edge proxies last saw of one app, from their `machine-activity/<region>/<host>` records:
 * each machine's open sessions and last request, and the regions whose proxies last sent its
 * requests to another region for want of a started machine. Sent by the live stream (routes/live.ts).
 */
import type { MachineActivityRecord } from '../model/mod.ts';

export interface AppActivity {
  /** By machine id: as its host's proxy last reported it. */
  machines: Record<string, { sessions: number; last_active_at: string; region: string; updated_at: string }>;
  /** By the proxy's region: when it last served one of the app's requests from another region. */
  served_elsewhere: Record<string, string>;
}

export function appActivity(
  records: Iterable<MachineActivityRecord>,
  app: string,
  machineIds: ReadonlySet<string>,
): AppActivity {
  const activity: AppActivity = { machines: {}, served_elsewhere: {} };
  for (const record of records) {
    for (const [id, seen] of Object.entries(record.machines)) {
      if (!machineIds.has(id)) continue;
      activity.machines[id] = { ...seen, region: record.region, updated_at: record.updated_at };
    }
    const elsewhere = record.served_elsewhere?.[app];
    if (elsewhere && elsewhere > (activity.served_elsewhere[record.region] ?? '')) {
      activity.served_elsewhere[record.region] = elsewhere;
    }
  }
  return activity;
}
