/**
 * Writes the OCI runtime bundle (`<dir>/bundle/config.json`) for a sandbox: Docker's default
 * isolation (capabilities, masked paths, mounts, no new privileges) plus the machine's limits.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxSpec } from './types.ts';

/** Docker's default capability set: enough for images that start as root and drop privileges. */
export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const MOUNTS = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  {
    destination: '/dev',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
  },
  {
    destination: '/dev/pts',
    type: 'devpts',
    source: 'devpts',
    options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
  },
  {
    destination: '/dev/shm',
    type: 'tmpfs',
    source: 'shm',
    options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
  },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  {
    destination: '/sys/fs/cgroup',
    type: 'cgroup',
    source: 'cgroup',
    options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
  },
];

const CPU_PERIOD_USEC = 100_000;

export interface BundleOptions {
  /** The root, best relative to the bundle: crun then reaches it from there, and the machine's ids
   *  need no search permission on the host directories above it (a data dir in /root…). */
  rootfs: string;
  cgroupsPath: string;
  /** A seccomp profile in OCI form, or undefined to run without one. */
  seccomp?: object;
  /** Whether the host accounts swap per cgroup; if so a machine gets no swap beyond its memory. */
  limitSwap?: boolean;
  /** RLIMIT_NOFILE for the process: 65536, or less where nearby's own hard limit is lower (raising
   *  it needs CAP_SYS_RESOURCE, which some hosts withhold even from root). */
  nofile?: number;
  /** The machine's range of host ids: it runs in a user namespace mapping its 0… onto them. */
  ids?: { hostId: number; count: number };
}

export function ociConfig(spec: SandboxSpec, options: BundleOptions): Record<string, unknown> {
  const { process, resources } = spec;
  const memoryBytes = Math.round(resources.memoryMb * 1024 * 1024);
  const { ids } = options;
  const mapping = ids ? [{ containerID: 0, hostID: ids.hostId, size: ids.count }] : undefined;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: process.tty === true,
      user: { uid: process.user.uid, gid: process.user.gid, additionalGids: process.user.additionalGids },
      args: process.args,
      env: process.env,
      cwd: process.cwd || '/',
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
        inheritable: [],
        ambient: [],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: options.nofile ?? 65536, soft: options.nofile ?? 65536 }],
      noNewPrivileges: true,
    },
    root: { path: options.rootfs, readonly: false },
    hostname: spec.hostname,
    mounts: [
      ...MOUNTS,
      ...(spec.mounts ?? []).map((mount) => ({
        destination: mount.destination,
        type: 'bind',
        source: mount.source,
        // idmap: the volume's files belong to the machine's ids as seen from inside it.
        options: ['rbind', 'rw', 'nosuid', 'nodev', ...(ids ? ['idmap'] : [])],
      })),
    ],
    linux: {
      cgroupsPath: options.cgroupsPath,
      resources: {
        devices: [{ allow: false, access: 'rwm' }],
        memory: options.limitSwap ? { limit: memoryBytes, swap: memoryBytes } : { limit: memoryBytes },
        cpu: {
          quota: Math.max(1000, Math.round(resources.cpus * CPU_PERIOD_USEC)),
          period: CPU_PERIOD_USEC,
          shares: cpuShares(resources),
        },
        pids: { limit: resources.pids },
      },
      namespaces: [
        { type: 'pid' },
        { type: 'network', path: spec.netnsPath },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ...(ids ? [{ type: 'user' }, { type: 'cgroup' }] : []),
      ],
      ...(mapping ? { uidMappings: mapping, gidMappings: mapping } : {}),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      ...(options.seccomp ? { seccomp: options.seccomp } : {}),
    },
  };
}

export function bundleDir(dir: string): string {
  return join(dir, 'bundle');
}

export async function writeBundle(spec: SandboxSpec, options: BundleOptions): Promise<string> {
  const bundle = bundleDir(spec.dir);
  await mkdir(bundle, { recursive: true });
  await writeFile(join(bundle, 'config.json'), `${JSON.stringify(ociConfig(spec, options), null, 2)}\n`);
  return bundle;
}

/** cgroup CPU shares (1024 = one default-weight CPU): `performance` machines weigh 4× `shared` ones. */
export function cpuShares(resources: SandboxSpec['resources']): number {
  const perCpu = resources.cpuKind === 'performance' ? 1024 : 256;
  return Math.max(2, Math.round(resources.cpus * perCpu));
}
