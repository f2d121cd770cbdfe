/**
 * What the autoscaler knows of an app, read from the store: the `[autoscale]` of its newest complete
 * release, the group it scales, its machines, the demand merged by region, and its decisions. The
 * loop plans from it; `GET /v1/apps/:app/autoscale` (`nearby autoscale show`) shows it.
 */
import { listRecords } from '../api/machines.ts';
import { listReleases } from '../api/routes/releases.ts';
import {
  type AutoscaleConfig,
  type AutoscaleDecision,
  type AutoscaleDecisionsRecord,
  type DemandRecord,
  isReleaseFinished,
  keys,
  type MachineRecord,
  type MachineStatus,
  type ProxyRecord,
} from '../model/mod.ts';
import { values } from '../store/mod.ts';
import type { Store } from '../store/types.ts';
import { mergeDemand, type RegionDemand, type RttMatrix, rttMatrix } from './demand.ts';

export interface AutoscaleState {
  config: AutoscaleConfig;
  release: number;
  deploying: boolean;
  /** The process group machines are added to and removed from. */
  group: string;
  /** Its machines (not destroyed, none being destroyed), oldest first, with their observed state. */
  machines: { record: MachineRecord; state: string }[];
  demand: Map<string, RegionDemand>;
  decisions: AutoscaleDecision[];
}

export const groupOf = (record: MachineRecord) => record.config.metadata?.fly_process_group ?? 'app';

/**
 * The app's autoscaling state, or undefined when its newest complete release has no `[autoscale]`.
 * `deploying` is set while a newer release rolls out: its deploy replaces the machines it listed
 * when it began, so a machine added meanwhile would keep the old release.
 */
export async function readAutoscaleState(
  store: Store,
  app: string,
  now: number,
): Promise<AutoscaleState | undefined> {
  const releases = await listReleases(store, app);
  const release = releases.find((candidate) => candidate.status === 'complete');
  if (release?.autoscale === undefined) return undefined;
  const groups = Object.keys(release.configs).sort();
  // The group that serves: `app` when there is one (the default), else the first by name.
  const group = groups.includes('app') ? 'app' : (groups[0] ?? 'app');
  const records = (await listRecords(store, app)).filter(
    (record) =>
      groupOf(record) === group &&
      record.desired.state !== 'destroyed' &&
      !record.config.metadata?.fly_release_command,
  );
  const machines = await Promise.all(
    records.map(async (record) => {
      const status = await store.get<MachineStatus>(keys.machineStatus(record.host, record.id));
      return { record, state: status?.value.state ?? 'created' };
    }),
  );
  const [demands, decisions] = await Promise.all([
    values<DemandRecord>(store, keys.demands(app)),
    store.get<AutoscaleDecisionsRecord>(keys.autoscaleDecisions(app)),
  ]);
  return {
    config: release.autoscale,
    release: release.version,
    deploying: !isReleaseFinished(releases[0].status),
    group,
    machines,
    demand: mergeDemand(demands, now),
    decisions: decisions?.value.decisions ?? [],
  };
}

export async function readRttMatrix(store: Store): Promise<RttMatrix> {
  return rttMatrix(await values<ProxyRecord>(store, keys.proxies()));
}
