/**
 * Placement, without I/O: given the hosts as their agents wrote them and what their machines
 * take, the host a new machine goes to, or an error that says what is missing and what to do.
 */
import { type GuestConfig, type HostRecord, hostIsUp } from '../model/mod.ts';
import { apiErrors, type HostShortage } from './errors.ts';
import { hostCapacity, loadOf, machineDemand, noResources, type Resources, shortOf } from './host-load.ts';

export interface PlacementRequest {
  region: string;
  /** The machine's size (absent: the agent's default, 1 shared vCPU and 256 MB). */
  guest?: GuestConfig;
  /** The machine's `config.runtime`, when it asks for one. */
  runtime?: string;
  /** A volume made ahead of its machine: it takes no memory, CPU or machine slot. */
  volume?: boolean;
}

export interface PlacementState {
  hosts: HostRecord[];
  /** What each host's machines take (`usageByHost`). */
  used: Map<string, Resources>;
  /** When heartbeats are judged: a host down at `now` (model/host-liveness.ts) gets nothing. */
  now: number;
}

/** Whether a host can run a machine asking for `runtime` (none asked: its default does). */
export function hostRuns(host: HostRecord, runtime: string | undefined): boolean {
  if (!runtime) return true;
  return (host.runtimes ?? [host.runtime === 'microvm' ? 'microvm' : 'container']).includes(runtime);
}

/**
 * The least loaded host of the region that is up, runs the runtime and has room for the machine.
 * Load is the fullest of memory, CPU and machine count once the machine is added (`loadOf`).
 * @throws NearbyError NO_HOST (no such region), REGION_DOWN, RUNTIME_UNSUPPORTED, NO_CAPACITY
 */
export function placeMachine(state: PlacementState, request: PlacementRequest): HostRecord {
  const { region } = request;
  const up = state.hosts.filter((host) => hostIsUp(host, state.now));
  const inRegion = state.hosts.filter((host) => host.region === region);
  if (inRegion.length === 0) throw apiErrors.noHost(region, regionsOf(up));
  const live = inRegion.filter((host) => hostIsUp(host, state.now));
  if (live.length === 0) {
    const newest = Math.max(...inRegion.map((host) => Date.parse(host.heartbeat_at)));
    throw apiErrors.regionDown(region, inRegion.length, state.now - newest, otherRegions(up, region));
  }
  const able = live.filter((host) => hostRuns(host, request.runtime));
  if (able.length === 0 && request.runtime) throw apiErrors.runtimeUnsupported(request.runtime, region);
  const demand = request.volume ? noResources() : machineDemand(request.guest);
  const usedOn = (host: HostRecord) => state.used.get(host.name) ?? noResources();
  const fits = (host: HostRecord) => shortOf(hostCapacity(host), usedOn(host), demand).length === 0;
  const roomy = able.filter(fits);
  if (roomy.length === 0) {
    const shortages: HostShortage[] = able.map((host) => ({
      host: host.name,
      capacity: hostCapacity(host),
      used: usedOn(host),
      short: shortOf(hostCapacity(host), usedOn(host), demand),
    }));
    const elsewhere = regionsOf(
      up.filter((host) => host.region !== region && hostRuns(host, request.runtime) && fits(host)),
    );
    throw apiErrors.noCapacity(region, request.guest, shortages, elsewhere);
  }
  const load = (host: HostRecord) => loadOf(hostCapacity(host), usedOn(host), demand);
  // Ties go by name so that the same state always gives the same answer.
  roomy.sort((a, b) => load(a) - load(b) || a.name.localeCompare(b.name));
  return roomy[0];
}

function regionsOf(hosts: HostRecord[]): string[] {
  return [...new Set(hosts.map((host) => host.region))].sort();
}

const otherRegions = (up: HostRecord[], region: string) => regionsOf(up).filter((name) => name !== region);
