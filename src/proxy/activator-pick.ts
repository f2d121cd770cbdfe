/**
 * Which machine the activator wakes for a request: the nearest first (this host, then this region,
 * then the other regions by RTT: placement.ts tiers), and at the same distance one already started
 * or starting (just not in HAProxy yet), then a suspended one (resumes in milliseconds), then a
 * stopped one. Pure.
 */
import type { MachineConfig, MachineRecord, MachineService, MachineStatus } from '../model/machine.ts';
import { endpoints, isSharedEndpoint } from './services.ts';

export interface WakeCandidate {
  record: MachineRecord;
  status: MachineStatus | undefined;
  /** The internal port the app's HTTP service listens on. */
  port: number;
  /** false: it is started or starting already, only wait for it. */
  needsStart: boolean;
  /** Its distance (placement.ts tier: 0 this host); 0 when the caller gave no `tierOf`. */
  tier: number;
}

/** The service behind the shared HTTP ports (80/443). */
export function httpServiceOf(config: MachineConfig): MachineService | undefined {
  return endpoints(config).find(isSharedEndpoint)?.service;
}

/** Whether the proxy may start this service's machines for a request (fly.toml `auto_start_machines`). */
export function autostartOn(service: MachineService): boolean {
  if (service.autostart !== undefined) return service.autostart;
  // Unset: on when machines also stop by themselves, so an app that sleeps always wakes again.
  return autostopMode(service) !== 'off';
}

/** fly.toml `auto_stop_machines` (and the older `true`/`false`), as one of three modes. */
export function autostopMode(service: MachineService): 'off' | 'stop' | 'suspend' {
  const value = service.autostop;
  if (value === true) return 'stop';
  if (value === 'stop' || value === 'suspend') return value;
  return 'off';
}

function rank(record: MachineRecord, status: MachineStatus | undefined): number {
  const sameVersion = status?.instance_id === record.instance_id;
  if (sameVersion && status?.state === 'started' && record.desired.state === 'started') return 0;
  if (record.desired.state === 'started' && (status?.state === 'starting' || status?.state === 'created'))
    return 1;
  switch (status?.state) {
    case 'suspended':
    case 'suspending':
      return 2;
    case 'stopped':
    case 'stopping':
    case 'created':
      return 3;
    case 'failed':
      return 5;
    default:
      return 4;
  }
}

/**
 * `tierOf`: how far the machine is (placement.ts `locate`), undefined when it cannot be reached
 * (its host's proxy is not alive): such a machine is never picked. Without it, every machine is here.
 */
export function pickWakeCandidate(
  machines: { record: MachineRecord; status: MachineStatus | undefined }[],
  tierOf: (record: MachineRecord) => number | undefined = () => 0,
): WakeCandidate | undefined {
  const candidates: (WakeCandidate & { rank: number })[] = [];
  for (const { record, status } of machines) {
    if (record.destroyed_at !== undefined || record.desired.state === 'destroyed' || record.cordoned === true)
      continue;
    const endpoint = endpoints(record.config).find(isSharedEndpoint);
    if (endpoint === undefined) continue;
    const order = rank(record, status);
    if (order > 1 && !autostartOn(endpoint.service)) continue;
    const tier = tierOf(record);
    if (tier === undefined) continue;
    candidates.push({
      record,
      status,
      port: endpoint.internalPort,
      needsStart: order > 1,
      tier,
      rank: order,
    });
  }
  candidates.sort((a, b) => a.tier - b.tier || a.rank - b.rank || a.record.id.localeCompare(b.record.id));
  const best = candidates[0];
  if (best === undefined) return undefined;
  const { rank: _rank, ...candidate } = best;
  return candidate;
}

/** Apps with a machine the activator could start or wait for (any HTTP service with autostart on). */
export function wakeableApps(records: Iterable<MachineRecord>): Set<string> {
  const apps = new Set<string>();
  for (const record of records) {
    if (record.destroyed_at !== undefined || record.desired.state === 'destroyed') continue;
    const service = httpServiceOf(record.config);
    if (service !== undefined && autostartOn(service)) apps.add(record.app);
  }
  return apps;
}
