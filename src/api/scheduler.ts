/**
 * The scheduler: which host runs a new machine. It reads the hosts as their agents wrote them and
 * the machines placed so far, and leaves the choice to `placeMachine` (placement.ts): the least
 * loaded host of the region that is up, runs the runtime and has room (memory, CPU, machine cap).
 */
import { type HostRecord, keys, type MachineRecord } from '../model/mod.ts';
import { type Store, values } from '../store/mod.ts';
import { usageByHost } from './host-load.ts';
import { isUp, type PlacementRequest, placeMachine } from './placement.ts';

export { hostRuns } from './placement.ts';

/** An agent that missed this long of heartbeats is not given new machines. */
export const HOST_STALE_MS = 60_000;

/**
 * The host for a new machine (or a volume made ahead of its machine) in `request.region`.
 * @throws NearbyError NO_HOST, REGION_DOWN, RUNTIME_UNSUPPORTED, NO_CAPACITY (placement.ts)
 */
export async function pickHost(store: Store, request: PlacementRequest): Promise<HostRecord> {
  const [hosts, machines] = await Promise.all([
    values<HostRecord>(store, keys.hosts()),
    values<MachineRecord>(store, keys.machines()),
  ]);
  return placeMachine(
    { hosts, used: usageByHost(machines), now: Date.now(), staleMs: HOST_STALE_MS },
    request,
  );
}

/** Regions that have a live host, for error messages and `nearby regions`. */
export async function liveRegions(store: Store): Promise<string[]> {
  const state = { now: Date.now(), staleMs: HOST_STALE_MS };
  const hosts = await values<HostRecord>(store, keys.hosts());
  return [...new Set(hosts.filter((host) => isUp(host, state)).map((host) => host.region))].sort();
}
