/**
 * The operator's view of the platform (`GET /v1/platform/hosts|regions`): each host's capacity and
 * what its machines take, with the scheduler's own accounting (host-load.ts), and its health.
 */
import { type HostRecord, hostIsUp, keys, type MachineRecord, type MachineStatus } from '../model/mod.ts';
import { type Store, values } from '../store/mod.ts';
import { addResources, hostCapacity, noResources, type Resources, usageByHost } from './host-load.ts';

export interface HostView {
  name: string;
  region: string;
  /** `up` while its agent's heartbeat is fresh (model/host-liveness.ts); a `down` host is given no new machines. */
  status: 'up' | 'down';
  address?: string;
  version?: string;
  runtimes: string[];
  capacity: Resources;
  used: Resources;
  /** Machines placed on it (not destroyed), and how many of them run now. */
  machines: number;
  started: number;
  heartbeat_at: string;
  heartbeat_age_s: number;
  started_at: string;
}

export interface RegionView {
  name: string;
  hosts: number;
  hosts_up: number;
  /** Summed over the hosts that are up: what the region can still take. */
  capacity: Resources;
  used: Resources;
  /** Machines in the region (on any of its hosts, up or down), and how many run now. */
  machines: number;
  started: number;
}

export interface Inventory {
  hosts: HostView[];
  regions: RegionView[];
}

// Fractions of a core (shared vCPUs) are shown to the hundredth.
const rounded = (r: Resources): Resources => ({ ...r, cpus: Math.round(r.cpus * 100) / 100 });

export async function readInventory(store: Store, now = Date.now()): Promise<Inventory> {
  const [hosts, machines, statuses] = await Promise.all([
    values<HostRecord>(store, keys.hosts()),
    values<MachineRecord>(store, keys.machines()),
    values<MachineStatus>(store, keys.machineStatuses()),
  ]);
  const used = usageByHost(machines);
  // Statuses can outlive their machine for a moment: only machines not destroyed count.
  const hostOf = new Map(machines.filter((m) => !m.destroyed_at).map((m) => [m.id, m.host]));
  const started = new Map<string, number>();
  for (const status of statuses) {
    const host = hostOf.get(status.id);
    if (host !== undefined && status.state === 'started') started.set(host, (started.get(host) ?? 0) + 1);
  }
  const hostViews = hosts
    .map((host): HostView => {
      const usage = used.get(host.name) ?? noResources();
      return {
        name: host.name,
        region: host.region,
        status: hostIsUp(host, now) ? 'up' : 'down',
        ...(host.address ? { address: host.address } : {}),
        ...(host.version ? { version: host.version } : {}),
        runtimes: host.runtimes ?? [host.runtime === 'microvm' ? 'microvm' : 'container'],
        capacity: rounded(hostCapacity(host)),
        used: rounded(usage),
        machines: usage.machines,
        started: started.get(host.name) ?? 0,
        heartbeat_at: host.heartbeat_at,
        heartbeat_age_s: Math.max(0, Math.round((now - Date.parse(host.heartbeat_at)) / 1000)),
        started_at: host.started_at,
      };
    })
    .sort((a, b) => a.region.localeCompare(b.region) || a.name.localeCompare(b.name));
  return { hosts: hostViews, regions: regionsOf(hostViews) };
}

function regionsOf(hosts: HostView[]): RegionView[] {
  const regions = new Map<string, RegionView>();
  for (const host of hosts) {
    const region = regions.get(host.region) ?? {
      name: host.region,
      hosts: 0,
      hosts_up: 0,
      capacity: noResources(),
      used: noResources(),
      machines: 0,
      started: 0,
    };
    region.hosts++;
    region.machines += host.machines;
    region.started += host.started;
    if (host.status === 'up') {
      region.hosts_up++;
      region.capacity = rounded(addResources(region.capacity, host.capacity));
      region.used = rounded(addResources(region.used, host.used));
    }
    regions.set(host.region, region);
  }
  return [...regions.values()];
}
