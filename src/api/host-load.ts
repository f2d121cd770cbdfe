/**
 * What a host can hold and what its machines take: memory, CPU and a machine count. One
 * accounting for the scheduler (does a machine fit?) and `GET /v1/platform/hosts|regions`.
 */
import type { GuestConfig, HostRecord, MachineRecord } from '../model/mod.ts';

/**
 * How many shared vCPUs one host core carries. Shared vCPUs are time-sliced (a shared-cpu-1x is
 * sold as a slice of a core, not a core), so they are overcommitted; performance vCPUs are
 * reserved one for one. 8 leaves each shared vCPU an eighth of a core when all are busy.
 */
export const SHARED_CPU_OVERCOMMIT = 8;

/**
 * The machine cap of a host that sets none (`max_machines`). Every machine costs a network
 * namespace, a veth pair, a shim process and isolation rules that grow with the count; past a
 * couple of hundred, starts and rule updates slow down long before memory runs out.
 */
export const DEFAULT_MAX_MACHINES = 200;

/** Memory in MB, CPU in host cores (fractional: shared vCPUs cost 1/SHARED_CPU_OVERCOMMIT). */
export interface Resources {
  memory_mb: number;
  cpus: number;
  machines: number;
}

/** What one machine of this size takes on its host (the agent's defaults: 1 shared vCPU, 256 MB). */
export function machineDemand(guest: GuestConfig | undefined): Resources {
  const vcpus = guest?.cpus ?? 1;
  return {
    memory_mb: guest?.memory_mb ?? 256,
    cpus: guest?.cpu_kind === 'performance' ? vcpus : vcpus / SHARED_CPU_OVERCOMMIT,
    machines: 1,
  };
}

export function hostCapacity(host: HostRecord): Resources {
  return { memory_mb: host.memory_mb, cpus: host.cpus, machines: host.max_machines ?? DEFAULT_MAX_MACHINES };
}

export const noResources = (): Resources => ({ memory_mb: 0, cpus: 0, machines: 0 });

export function addResources(a: Resources, b: Resources): Resources {
  return { memory_mb: a.memory_mb + b.memory_mb, cpus: a.cpus + b.cpus, machines: a.machines + b.machines };
}

/**
 * What each host's machines take, by host name. Every machine not destroyed counts, stopped and
 * suspended ones too: the proxy may wake any of them at any moment, on the host it was placed on,
 * so its room stays reserved (a wake must never fail for want of memory).
 */
export function usageByHost(machines: Iterable<MachineRecord>): Map<string, Resources> {
  const used = new Map<string, Resources>();
  for (const machine of machines) {
    if (machine.destroyed_at || machine.desired.state === 'destroyed') continue;
    const current = used.get(machine.host) ?? noResources();
    used.set(machine.host, addResources(current, machineDemand(machine.config.guest)));
  }
  return used;
}

/**
 * The fullest of a host's three resources, as a fraction of its capacity, once `extra` is added:
 * the scheduler's "load" (least loaded wins), so a host short of any one resource counts as full.
 */
export function loadOf(capacity: Resources, used: Resources, extra = noResources()): number {
  const share = (key: keyof Resources) =>
    capacity[key] > 0 ? (used[key] + extra[key]) / capacity[key] : Number.POSITIVE_INFINITY;
  return Math.max(share('memory_mb'), share('cpus'), share('machines'));
}

/** Which resources `demand` does not fit in (empty: it fits). */
export function shortOf(capacity: Resources, used: Resources, demand: Resources): (keyof Resources)[] {
  const keysOf: (keyof Resources)[] = ['memory_mb', 'cpus', 'machines'];
  // A rounding hair (8 × 1/8 of a core) must not refuse the last shared vCPU that fits.
  return keysOf.filter((key) => used[key] + demand[key] > capacity[key] + 1e-9);
}
