/**
 * The runtime driver part's public face: `createRuntime` picks crun (preferred) or runc, checks the
 * host can run it, and returns a `RuntimeDriver`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../errors.ts';
import { runCommand } from '../../run-command.ts';
import { DEFAULT_CAPABILITIES } from './bundle.ts';
import { cgroupLayout, hybridNeedsHugetlb } from './cgroups.ts';
import { OciRuntimeDriver } from './crun.ts';
import { DispatchRuntime, type RuntimeKind } from './dispatch.ts';
import { runtimeUnavailable } from './errors.ts';
import { DEFAULT_ID_RANGES_DIR, ID_RANGE_BASE } from './id-ranges.ts';
import { createMicroVmRuntime, microvmMissing } from './microvm/mod.ts';
import { DEFAULT_SECCOMP_PATH, defaultSeccomp } from './seccomp.ts';
import type { RuntimeDriver } from './types.ts';

export type { OciDriverOptions } from './crun.ts';
export { OciRuntimeDriver } from './crun.ts';
export { DispatchRuntime, type RuntimeKind } from './dispatch.ts';
export { createMicroVmRuntime, MicroVmDriver, microvmMissing } from './microvm/mod.ts';
export type * from './types.ts';

export interface RuntimeOptions {
  /** Directory for the runtime's state and sandbox records (one per nearby data dir). */
  stateDir: string;
  /** `crun`, `runc`, or a path to either. Default: crun when it can run here, else runc. */
  runtimeBin?: string;
  /** The shim binary; default `native/build/shim`, built on first use. */
  shimPath?: string;
  /** Docker-format seccomp profile to apply (default: the host's containers-common one); false: none. */
  seccompProfile?: string | false;
  /** Where machines' ranges of host ids are claimed (host-wide; id-ranges.ts). */
  idRangesDir?: string;
  /** Each machine's root disk, in GB (`nearby server --root-disk-gb`; default 8). */
  rootDiskGb?: number;
  logger?: { warn(message: string): void };
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_SHIM_PATH = join(repoRoot, 'native', 'build', 'shim');
export const HELLO_PATH = join(repoRoot, 'native', 'build', 'hello');
export const IDMAP_MOUNT_PATH = join(repoRoot, 'native', 'build', 'idmap-mount');
/** Like Fly's root filesystem; sparse: only what is written takes host disk. */
const DEFAULT_ROOT_DISK_GB = 8;

async function works(bin: string): Promise<boolean> {
  try {
    return (await runCommand(bin, ['--version'], { timeoutMs: 5000 })).code === 0;
  } catch {
    return false;
  }
}

/** Builds the shim and hello when missing or older than their sources. */
export async function ensureNativeBuilt(): Promise<void> {
  const stale = ['shim', 'hello', 'pty-relay', 'idmap-mount'].some((name) => {
    const out = join(repoRoot, 'native', 'build', name);
    return (
      !existsSync(out) || statSync(join(repoRoot, 'native', `${name}.c`)).mtimeMs > statSync(out).mtimeMs
    );
  });
  if (!stale) return;
  const result = await runCommand(join(repoRoot, 'scripts', 'build-native.sh'), [], { timeoutMs: 120_000 });
  if (result.code !== 0) throw runtimeUnavailable(`building the shim failed: ${result.stderr.trim()}`);
}

async function pickRuntime(options: RuntimeOptions): Promise<{ runtime: 'crun' | 'runc'; bin: string }> {
  if (options.runtimeBin) {
    const runtime = basename(options.runtimeBin).includes('runc') ? 'runc' : 'crun';
    if (!(await works(options.runtimeBin))) {
      throw runtimeUnavailable(`the OCI runtime '${options.runtimeBin}' cannot be run`);
    }
    return { runtime, bin: options.runtimeBin };
  }
  let reason = 'crun is not installed';
  if (await works('crun')) {
    if (!hybridNeedsHugetlb()) return { runtime: 'crun', bin: 'crun' };
    reason = 'crun refuses this hybrid cgroup layout until hugetlb is mounted (run scripts/host-prep.sh)';
  }
  if (await works('runc')) {
    options.logger?.warn(`using runc instead of crun: ${reason}`);
    return { runtime: 'runc', bin: 'runc' };
  }
  throw runtimeUnavailable(`no usable OCI runtime: ${reason}, and runc is not installed`);
}

/** 65536 open files, capped by our own hard limit: the runtime cannot raise it without CAP_SYS_RESOURCE. */
function nofileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const hard = line?.split(/\s+/)[4];
  return hard === undefined || hard === 'unlimited' ? 65536 : Math.min(65536, Number(hard));
}

/** Whether this kernel and the state dir's filesystem take an idmapped mount (Linux 5.12+; ext4,
 *  xfs, btrfs…), tried once per start on an empty directory; why not when they do not. */
async function idmapUnsupported(stateDir: string): Promise<string | undefined> {
  const probe = join(stateDir, 'idmap-probe');
  await mkdir(join(probe, 'source'), { recursive: true });
  await mkdir(join(probe, 'target'), { recursive: true });
  try {
    const made = await runCommand(IDMAP_MOUNT_PATH, [
      String(ID_RANGE_BASE),
      '1',
      ...['source', 'target'].map((d) => join(probe, d)),
    ]);
    if (made.code !== 0) return made.stderr.trim() || `exit ${made.code}`;
    await runCommand('umount', [join(probe, 'target')]);
    return undefined;
  } finally {
    await rm(probe, { recursive: true, force: true });
  }
}

export async function createRuntime(options: RuntimeOptions): Promise<OciRuntimeDriver> {
  const { runtime, bin } = await pickRuntime(options);
  const shimPath = options.shimPath ?? DEFAULT_SHIM_PATH;
  if (!options.shimPath) await ensureNativeBuilt();
  if (!existsSync(shimPath)) throw runtimeUnavailable(`the shim is missing at ${shimPath}`);
  const layout = cgroupLayout();
  const limitSwap =
    layout === 'v2'
      ? existsSync('/sys/fs/cgroup/memory.swap.max') ||
        existsSync('/sys/fs/cgroup/init.scope/memory.swap.max')
      : existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes');
  let seccomp: object | undefined;
  if (options.seccompProfile !== false) {
    const path = options.seccompProfile ?? DEFAULT_SECCOMP_PATH;
    seccomp = await defaultSeccomp(DEFAULT_CAPABILITIES, path);
    if (!seccomp)
      options.logger?.warn(`sandboxes run without a seccomp filter: no usable profile at ${path}`);
  }
  // runc 1.1 cannot idmap a volume's mount, nor reach a root relative to the bundle: root stays root.
  let userns = runtime === 'crun';
  const unsupported = userns ? await idmapUnsupported(options.stateDir) : undefined;
  if (unsupported !== undefined) {
    userns = false;
    options.logger?.warn(`machines run without user namespaces (root in them is root here): ${unsupported}`);
  } else if (!userns) options.logger?.warn('machines run without user namespaces under runc: prefer crun');
  return new OciRuntimeDriver({
    seccomp,
    idmapMount: IDMAP_MOUNT_PATH,
    ...(userns ? { idRangesDir: options.idRangesDir ?? DEFAULT_ID_RANGES_DIR } : {}),
    rootDiskGb: options.rootDiskGb ?? DEFAULT_ROOT_DISK_GB,
    stateDir: options.stateDir,
    runtime,
    runtimeBin: bin,
    shimPath,
    limitSwap,
    nofile: nofileLimit(),
  });
}

function hasEntries(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/** The driver a host runs its machines with (`nearby server --runtime`): `microvm` for QEMU
 *  microVMs, otherwise an OCI runtime (`crun`, `runc`, or `auto`). That is the host default; a
 *  machine's `config.runtime` picks the other one (made at start when this host can run it, or
 *  has sandboxes of it, else on first use; `kinds` says which were made, for the scheduler). */
export async function createHostRuntime(
  kind: string,
  options: RuntimeOptions & { logger?: { warn(message: string): void; info(message: string): void } },
): Promise<DispatchRuntime> {
  const shimPath = options.shimPath ?? DEFAULT_SHIM_PATH;
  const microvmDir = join(options.stateDir, 'microvm');
  const make = async (which: RuntimeKind): Promise<RuntimeDriver> => {
    if (which === 'container')
      return createRuntime({
        ...options,
        runtimeBin: kind === 'auto' || kind === 'microvm' ? undefined : kind,
      });
    if (!options.shimPath) await ensureNativeBuilt();
    return createMicroVmRuntime({ stateDir: microvmDir, shimPath, logger: options.logger });
  };
  const defaultKind: RuntimeKind = kind === 'microvm' ? 'microvm' : 'container';
  const drivers: Partial<Record<RuntimeKind, RuntimeDriver>> = { [defaultKind]: await make(defaultKind) };
  if (defaultKind === 'container') {
    if (hasEntries(join(microvmDir, 'vms')) || !(await microvmMissing())) {
      try {
        drivers.microvm = await make('microvm');
      } catch (error) {
        options.logger?.warn(`machines asking for a microVM cannot run here: ${errorMessage(error)}`);
      }
    }
  } else {
    try {
      drivers.container = await make('container');
    } catch (error) {
      // Containers adopted from an earlier start need it; otherwise the host runs microVMs only.
      if (hasEntries(join(options.stateDir, 'sandboxes'))) throw error;
      options.logger?.warn(`machines asking for a container cannot run here: ${errorMessage(error)}`);
    }
  }
  const runtime = new DispatchRuntime({ defaultKind, drivers, make });
  await runtime.load();
  return runtime;
}
