/**
 * Where a sandbox's cgroups live and what they say: limits, usage, OOM kills. Handles cgroup v2, v1
 * and the hybrid layout (v1 controllers plus a unified mount) that this kind of host has.
 */
import { existsSync, rmdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Every machine's cgroup sits under this parent, so nearby's share of the host is easy to see. */
export const CGROUP_PARENT = 'nearby';

export type CgroupLayout = 'v2' | 'v1' | 'hybrid';

export function cgroupLayout(root = CGROUP_ROOT): CgroupLayout {
  if (existsSync(join(root, 'cgroup.controllers'))) return 'v2';
  return existsSync(join(root, 'unified')) ? 'hybrid' : 'v1';
}

/** crun refuses a hybrid layout unless every v1 controller it knows (hugetlb included) is mounted. */
export function hybridNeedsHugetlb(root = CGROUP_ROOT): boolean {
  return cgroupLayout(root) === 'hybrid' && !existsSync(join(root, 'hugetlb', 'cgroup.procs'));
}

/** The OCI `cgroupsPath` of a sandbox. */
export function cgroupsPath(id: string): string {
  return `/${CGROUP_PARENT}/${id}`;
}

/** The directory of one controller's cgroup for the sandbox (v2: the one unified directory). */
export function controllerDir(id: string, controller: string): string {
  return cgroupLayout() === 'v2'
    ? join(CGROUP_ROOT, CGROUP_PARENT, id)
    : join(CGROUP_ROOT, controller, CGROUP_PARENT, id);
}

/** The file whose `oom_kill N` line counts OOM kills in the sandbox's memory cgroup. */
export function oomCounterFile(id: string): string {
  return join(controllerDir(id, 'memory'), cgroupLayout() === 'v2' ? 'memory.events' : 'memory.oom_control');
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function keyedValue(text: string | undefined, key: string): number | undefined {
  const line = text?.split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
}

export async function oomKills(id: string): Promise<number> {
  return keyedValue(await readText(oomCounterFile(id)), 'oom_kill') ?? 0;
}

export interface CgroupLimits {
  memoryBytes?: number;
  pids?: number;
  cpuQuotaUsec?: number;
  cpuPeriodUsec?: number;
  /** v1 `cpu.shares`, or v2 `cpu.weight` (1–10000, the runtime's conversion of the shares). */
  cpuWeight?: number;
}

function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = text.trim().split(/\s+/)[0];
  return value === 'max' ? Number.POSITIVE_INFINITY : Number(value);
}

/** Reads back the limits the kernel enforces (for tests and `nearby machine status`). */
export async function readLimits(id: string): Promise<CgroupLimits> {
  if (cgroupLayout() === 'v2') {
    const dir = controllerDir(id, '');
    const cpu = (await readText(join(dir, 'cpu.max')))?.trim().split(' ');
    return {
      memoryBytes: parseLimit(await readText(join(dir, 'memory.max'))),
      pids: parseLimit(await readText(join(dir, 'pids.max'))),
      cpuQuotaUsec: cpu ? parseLimit(cpu[0]) : undefined,
      cpuPeriodUsec: cpu ? Number(cpu[1]) : undefined,
      cpuWeight: parseLimit(await readText(join(dir, 'cpu.weight'))),
    };
  }
  return {
    memoryBytes: parseLimit(await readText(join(controllerDir(id, 'memory'), 'memory.limit_in_bytes'))),
    pids: parseLimit(await readText(join(controllerDir(id, 'pids'), 'pids.max'))),
    cpuQuotaUsec: parseLimit(await readText(join(controllerDir(id, 'cpu'), 'cpu.cfs_quota_us'))),
    cpuPeriodUsec: parseLimit(await readText(join(controllerDir(id, 'cpu'), 'cpu.cfs_period_us'))),
    cpuWeight: parseLimit(await readText(join(controllerDir(id, 'cpu'), 'cpu.shares'))),
  };
}

export interface CgroupUsage {
  cpuUsageUsec: number;
  memoryBytes: number;
  pids: number;
}

export async function readUsage(id: string): Promise<CgroupUsage> {
  if (cgroupLayout() === 'v2') {
    const dir = controllerDir(id, '');
    const memory = Number((await readText(join(dir, 'memory.current')))?.trim() ?? 0);
    const inactive = keyedValue(await readText(join(dir, 'memory.stat')), 'inactive_file') ?? 0;
    return {
      cpuUsageUsec: keyedValue(await readText(join(dir, 'cpu.stat')), 'usage_usec') ?? 0,
      memoryBytes: Math.max(0, memory - inactive),
      pids: Number((await readText(join(dir, 'pids.current')))?.trim() ?? 0),
    };
  }
  const memoryDir = controllerDir(id, 'memory');
  const usage = Number((await readText(join(memoryDir, 'memory.usage_in_bytes')))?.trim() ?? 0);
  // Like `docker stats`: page cache that the kernel can drop at once is not the machine's memory.
  const inactive = keyedValue(await readText(join(memoryDir, 'memory.stat')), 'total_inactive_file') ?? 0;
  const cpuNs = Number((await readText(join(controllerDir(id, 'cpuacct'), 'cpuacct.usage')))?.trim() ?? 0);
  return {
    cpuUsageUsec: Math.round(cpuNs / 1000),
    memoryBytes: Math.max(0, usage - inactive),
    pids: Number((await readText(join(controllerDir(id, 'pids'), 'pids.current')))?.trim() ?? 0),
  };
}

const V1_CONTROLLERS = [
  'cpu',
  'cpuacct',
  'cpuset',
  'memory',
  'devices',
  'freezer',
  'blkio',
  'pids',
  'hugetlb',
  'net_cls',
  'net_prio',
  'perf_event',
  'systemd',
  'unified',
];

/** Every cgroup directory of the sandbox that exists now (destroy removes what the runtime left). */
export function existingCgroupDirs(id: string): string[] {
  const dirs =
    cgroupLayout() === 'v2'
      ? [join(CGROUP_ROOT, CGROUP_PARENT, id)]
      : V1_CONTROLLERS.map((c) => join(CGROUP_ROOT, c, CGROUP_PARENT, id));
  return dirs.filter((dir) => existsSync(dir));
}

/**
 * Removes the sandbox's (empty) cgroup directories. Synchronous: a start does it on a waking
 * request's path, where each call through libuv's pool waited on a busy loop (0.5 ms for this,
 * docs/perf.md) and an `rmdir` of an empty cgroup takes microseconds.
 */
export function removeCgroups(id: string): void {
  for (const dir of existingCgroupDirs(id)) {
    try {
      rmdirSync(dir);
    } catch {}
  }
}
