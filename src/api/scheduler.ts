/**
 * The scheduler: which host runs a new machine. A host qualifies when its agent's heartbeat is
 * fresh and it is in the wanted region; among those, the one with the most memory left wins.
 */
import { NearbyError } from '../errors.ts';
import { HOST_DOWN_MS, type HostRecord, keys, type MachineRecord } from '../model/mod.ts';
import { type Store, values } from '../store/mod.ts';
import { apiErrors } from './errors.ts';

/** An agent that missed this long of heartbeats is down: it is not given new machines. */
export const HOST_STALE_MS = HOST_DOWN_MS;

/** Whether a host can run a machine asking for `runtime` (none asked: its default does). */
export function hostRuns(host: HostRecord, runtime: string | undefined): boolean {
  if (!runtime) return true;
  return (host.runtimes ?? [host.runtime === 'microvm' ? 'microvm' : 'container']).includes(runtime);
}

function runtimeUnsupported(runtime: string, region: string): NearbyError {
  return new NearbyError(
    'RUNTIME_UNSUPPORTED',
    `no host in region '${region}' can run a ${runtime} machine`,
    {
      status: 422,
      hint:
        runtime === 'microvm'
          ? 'install QEMU and the guest kernel on a host (scripts/setup.sh, scripts/microvm-assets.sh) and restart its server, or drop config.runtime'
          : 'drop config.runtime to use the host default',
    },
  );
}

export async function pickHost(
  store: Store,
  region: string,
  memoryMb: number,
  runtime?: string,
): Promise<HostRecord> {
  const now = Date.now();
  const hosts = (await values<HostRecord>(store, keys.hosts())).filter(
    (host) => now - Date.parse(host.heartbeat_at) < HOST_STALE_MS,
  );
  const inRegion = hosts.filter((host) => host.region === region);
  if (inRegion.length === 0) throw apiErrors.noHost(region, [...new Set(hosts.map((h) => h.region))].sort());
  const able = inRegion.filter((host) => hostRuns(host, runtime));
  if (able.length === 0 && runtime) throw runtimeUnsupported(runtime, region);
  const used = new Map<string, number>();
  for (const machine of await values<MachineRecord>(store, keys.machines())) {
    if (machine.destroyed_at || machine.desired.state === 'destroyed') continue;
    used.set(machine.host, (used.get(machine.host) ?? 0) + (machine.config.guest?.memory_mb ?? 256));
  }
  const free = (host: HostRecord) => host.memory_mb - (used.get(host.name) ?? 0);
  // Hosts may be overcommitted (limits are enforced per machine by its cgroup); prefer room first.
  able.sort((a, b) => Number(free(b) >= memoryMb) - Number(free(a) >= memoryMb) || free(b) - free(a));
  return able[0];
}

/** Regions that have a live host, for error messages and `nearby regions`. */
export async function liveRegions(store: Store): Promise<string[]> {
  const now = Date.now();
  const hosts = await values<HostRecord>(store, keys.hosts());
  return [
    ...new Set(hosts.filter((h) => now - Date.parse(h.heartbeat_at) < HOST_STALE_MS).map((h) => h.region)),
  ];
}
