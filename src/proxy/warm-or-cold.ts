/**
 * Warm far, or cold near (docs/scale-to-zero.md): when an app's nearest machines are all stopped
 * and a farther one is started, each request goes where it is answered sooner — the far machine,
 * one round trip away, or the near one after its wake (this proxy's measured median). Whichever
 * serves, the near machine is woken: by the activator (cold near) or by the region's decider,
 * which sees the request served elsewhere (warm far). Pure, so both outcomes are tested alone.
 */
import type { MachineRecord } from '../model/machine.ts';
import type { MachineEntry } from './activator.ts';
import { pickWakeCandidate } from './activator-pick.ts';
import type { Location } from './placement.ts';
import { farBackendName, type WantedBackend } from './routes.ts';

export interface WarmOrColdInput {
  /** The round trip from this proxy to the far started machine's proxy; unknown until probed. */
  farRttMs?: number;
  /** The median of this proxy's wakes of the app's near machines; unknown before the first. */
  nearWakeMs?: number;
  /** The round trip to the near machine's host (0 on this host). */
  nearRttMs?: number;
}

export type WarmOrCold = 'warm-far' | 'cold-near';

/**
 * Cold near only when it is known to be sooner: a wake never measured, or a far RTT never probed,
 * keeps the request warm far (answered now, never a 503 where an answer was possible).
 */
export function warmFarOrColdNear(input: WarmOrColdInput): WarmOrCold {
  const { farRttMs, nearWakeMs } = input;
  if (farRttMs === undefined || nearWakeMs === undefined) return 'warm-far';
  return nearWakeMs + (input.nearRttMs ?? 0) < farRttMs ? 'cold-near' : 'warm-far';
}

export interface ColdNearInput {
  machinesOf(app: string): MachineEntry[];
  locate(record: MachineRecord): Location | undefined;
  wakeMs(app: string): number | undefined;
}

/**
 * Empties the HTTP backend (and its far twin) of every app whose rule says cold near, so its
 * requests go to the activator (the backend's backup server), which wakes the nearest machine
 * and holds them until it listens. Only backends whose activator is enabled; returns the apps
 * sent cold near.
 */
export function holdForNearWake(backends: WantedBackend[], input: ColdNearInput): string[] {
  const cold: string[] = [];
  const byName = new Map(backends.map((backend) => [backend.name, backend]));
  for (const backend of backends) {
    if (backend.backup?.enabled !== true) continue;
    const twin = byName.get(farBackendName(backend.name));
    const servers = backend.servers.length > 0 ? backend.servers : (twin?.servers ?? []);
    if (servers.length === 0) continue;
    const machines = input.machinesOf(backend.app);
    const serving = new Set(servers.map((server) => server.name));
    const far = machines
      .filter((entry) => serving.has(entry.record.id))
      .map((entry) => input.locate(entry.record))
      .filter((location) => location !== undefined);
    if (far.length === 0) continue;
    const farTier = Math.min(...far.map((location) => location.tier));
    const candidate = pickWakeCandidate(machines, (record) => input.locate(record)?.tier);
    if (candidate === undefined || !candidate.needsStart || candidate.tier >= farTier) continue;
    const rtts = far.flatMap((location) => (location.rttMs === undefined ? [] : [location.rttMs]));
    const outcome = warmFarOrColdNear({
      ...(rtts.length > 0 ? { farRttMs: Math.min(...rtts) } : {}),
      ...optional('nearWakeMs', input.wakeMs(backend.app)),
      ...optional('nearRttMs', input.locate(candidate.record)?.rttMs),
    });
    if (outcome !== 'cold-near') continue;
    backend.servers = [];
    if (twin !== undefined) twin.servers = [];
    cold.push(backend.app);
  }
  return cold;
}

const optional = <K extends string>(key: K, value: number | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, number>>;
