/**
 * The scheduler: which host runs a new machine. It reads the hosts as their agents wrote them and
 * the machines placed so far, and leaves the choice to `placeMachine` (placement.ts): the least
 * loaded host of the region that is up, runs the runtime and has room (memory, CPU, machine cap).
 */
import { type GuestConfig, type HostRecord, hostIsUp, keys, type MachineRecord } from '../model/mod.ts';
import { type Store, values } from '../store/mod.ts';
import { apiErrors } from './errors.ts';
import { hostCapacity, machineDemand, noResources, shortOf, usageByHost } from './host-load.ts';
import { type PlacementRequest, placeMachine } from './placement.ts';

/**
 * The host for a new machine (or a volume made ahead of its machine) in `request.region`.
 * @throws NearbyError NO_HOST, REGION_DOWN, RUNTIME_UNSUPPORTED, NO_CAPACITY (placement.ts)
 */
export async function pickHost(store: Store, request: PlacementRequest): Promise<HostRecord> {
  const [hosts, machines] = await Promise.all([
    values<HostRecord>(store, keys.hosts()),
    values<MachineRecord>(store, keys.machines()),
  ]);
  return placeMachine({ hosts, used: usageByHost(machines), now: Date.now() }, request);
}

let placing: Promise<unknown> = Promise.resolve();

/**
 * Runs this process's placements (pick a host, write the machine) one after the other, so two
 * creates at once cannot both take a host's last room. Between API processes placement stays
 * optimistic (docs/scheduler.md).
 */
export function serializePlacement<T>(place: () => Promise<T>): Promise<T> {
  const run = placing.then(place, place);
  placing = run.catch(() => {});
  return run;
}

/**
 * Refuses to grow a machine beyond the room its host has: an update keeps the machine on its host
 * (its volumes, its address), so the new size must fit there. A size that does not grow is never
 * refused, even on a host that is already full.
 * @throws NearbyError NO_CAPACITY naming what the host is short of
 */
export async function checkResize(
  store: Store,
  machine: MachineRecord,
  guest: GuestConfig | undefined,
): Promise<void> {
  const before = machineDemand(machine.config.guest);
  const after = machineDemand(guest);
  if (after.memory_mb <= before.memory_mb && after.cpus <= before.cpus) return;
  const [host, machines] = await Promise.all([
    store.get<HostRecord>(keys.host(machine.host)),
    values<MachineRecord>(store, keys.machines()),
  ]);
  if (!host) return;
  const used = usageByHost(machines.filter((m) => m.id !== machine.id)).get(machine.host) ?? noResources();
  const capacity = hostCapacity(host.value);
  const short = shortOf(capacity, used, after);
  if (short.length > 0)
    throw apiErrors.noRoomToResize(machine.id, guest, { host: machine.host, capacity, used, short });
}

/** Regions that have a host up, for `GET /v1/platform` (and so the CLI's region checks). */
export async function liveRegions(store: Store): Promise<string[]> {
  const now = Date.now();
  const hosts = await values<HostRecord>(store, keys.hosts());
  return [...new Set(hosts.filter((host) => hostIsUp(host, now)).map((host) => host.region))].sort();
}
