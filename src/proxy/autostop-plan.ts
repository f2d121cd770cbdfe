/**
 * Autostop's decision for one app in one region, pure: which one idle machine to stop or suspend
 * now, if any. Never below `min_machines_running` (counted in the primary region), and only when
 * the machines left have room (load under their `soft_limit`).
 */
import type { MachineConfig, MachineRecord, MachineService, MachineStatus } from '../model/machine.ts';
import { autostopMode, pickWakeCandidate } from './activator-pick.ts';
import type { MachineLoad } from './autostop-stats.ts';

export interface AutostopInput {
  region: string;
  idleMs: number;
  machines: { record: MachineRecord; status: MachineStatus | undefined }[];
  loads: Map<string, MachineLoad>;
  idleFor(machine: string): number | undefined;
}

export interface AutostopDecision {
  machine: string;
  suspend: boolean;
  idleMs: number;
}

/** The service that decides autostop: the first one with it on, else the first one. */
function governingService(config: MachineConfig): MachineService | undefined {
  const services = config.services ?? [];
  return services.find((service) => autostopMode(service) !== 'off') ?? services[0];
}

const isStarted = ({ record, status }: { record: MachineRecord; status: MachineStatus | undefined }) =>
  record.destroyed_at === undefined &&
  record.desired.state === 'started' &&
  status?.state === 'started' &&
  status.instance_id === record.instance_id;

/** Sessions a machine takes before it counts as full (`soft_limit`, else `hard_limit`). */
function softLimit(service: MachineService | undefined): number {
  const limits = service?.concurrency;
  return limits?.soft_limit ?? limits?.hard_limit ?? Number.POSITIVE_INFINITY;
}

export function planAutostop(input: AutostopInput): AutostopDecision | undefined {
  const started = input.machines.filter((entry) => entry.record.region === input.region && isStarted(entry));
  if (started.length === 0) return undefined;
  const min = Math.max(
    0,
    ...started.map(({ record }) => {
      const primary = record.config.env?.PRIMARY_REGION ?? record.region;
      return primary === input.region ? (governingService(record.config)?.min_machines_running ?? 0) : 0;
    }),
  );
  if (started.length <= min) return undefined;
  let best: AutostopDecision | undefined;
  for (const { record } of started) {
    const service = governingService(record.config);
    const mode = service === undefined ? 'off' : autostopMode(service);
    if (mode === 'off') continue;
    const idle = input.idleFor(record.id);
    if (idle === undefined || idle < input.idleMs || (input.loads.get(record.id)?.sessions ?? 0) > 0)
      continue;
    const othersHaveRoom = started
      .filter((other) => other.record.id !== record.id)
      .every(
        (other) =>
          (input.loads.get(other.record.id)?.sessions ?? 0) <
          softLimit(governingService(other.record.config)),
      );
    if (!othersHaveRoom) continue;
    if (best === undefined || idle > best.idleMs)
      best = { machine: record.id, suspend: mode === 'suspend', idleMs: idle };
  }
  return best;
}

export interface AutostartDecision {
  machine: string;
}

/**
 * Autostart for load, pure: when every started machine of the app in this region is at or over
 * its `soft_limit`, the app wants one more machine; wake the best stopped or suspended one.
 */
export function planAutostart(
  input: Omit<AutostopInput, 'idleMs' | 'idleFor'>,
): AutostartDecision | undefined {
  const local = input.machines.filter((entry) => entry.record.region === input.region);
  const started = local.filter(isStarted);
  if (started.length === 0) return undefined; // At zero the activator wakes a machine per request.
  const allFull = started.every(({ record }) => {
    const limit = softLimit(governingService(record.config));
    return Number.isFinite(limit) && (input.loads.get(record.id)?.sessions ?? 0) >= limit;
  });
  if (!allFull) return undefined;
  const candidate = pickWakeCandidate(local.filter((entry) => !isStarted(entry)));
  return candidate?.needsStart ? { machine: candidate.record.id } : undefined;
}

/**
 * The region's requests went to another region (routing found no started machine here): wake the
 * best stopped or suspended machine of this region so that later requests stay here. Pure.
 */
export function planRegionalWake(
  input: Pick<AutostopInput, 'region' | 'machines'>,
): AutostartDecision | undefined {
  const local = input.machines.filter((entry) => entry.record.region === input.region);
  if (local.some(isStarted)) return undefined;
  const candidate = pickWakeCandidate(local);
  return candidate?.needsStart ? { machine: candidate.record.id } : undefined;
}
