/**
 * The microVM runtime driver: each sandbox is a QEMU `microvm` guest running our init, supervised
 * by the same shim as containers (so it outlives nearby and its output lands in the CRI log).
 * Every operation reads state from files and pids, so a restarted nearby adopts running VMs.
 */

import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { basename, join } from 'node:path';
import { NearbyError } from '../../../errors.ts';
import { ensureMachineTap, namespaceAddresses } from '../../../net/tap.ts';
import { sandboxIdInvalid, sandboxNotFound, sandboxNotRunning, sandboxStartFailed } from '../errors.ts';
import { liveShimPid, logTail, readContainerPid, shimFiles } from '../shim.ts';
import type {
  ExecResult,
  ExitInfo,
  RuntimeDriver,
  SandboxInfo,
  SandboxSpec,
  SandboxStats,
  StopOptions,
} from '../types.ts';
import { execInGuest, sendSignal } from './control.ts';
import { baseDisk, createOverlay } from './disk.ts';
import { guestUnreachable } from './errors.ts';
import type { Accelerator, GuestAssets } from './host.ts';
import { baseInitramfs, type GuestConfig, type GuestNetwork, machineInitramfs } from './initramfs.ts';
import { qemuArgs, qmp, vmFiles } from './qemu.ts';
import {
  exitInfo,
  launchUnderShim,
  liveQemuPid,
  macFor,
  qemuStats,
  signalNumber,
  waitForExit,
} from './vm-process.ts';

export interface MicroVmDriverOptions {
  /** Where VM records (`vms/`) and the per-image disks (`disks/`) live. */
  stateDir: string;
  shimPath: string;
  initPath: string;
  assets: GuestAssets;
  accelerator: Accelerator;
  /** Extra kernel arguments (the clock figures). */
  kernelArgs: string[];
}

interface VmRecord extends GuestConfig {
  id: string;
  dir: string;
  imageRootfs: string;
  baseDisk: string;
  netnsPath: string;
  cpus: number;
  memoryMb: number;
}

const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const KILL_GRACE_MS = 10_000;

export class MicroVmDriver implements RuntimeDriver {
  readonly name = 'microvm';
  readonly #o: MicroVmDriverOptions;
  #base: Buffer | undefined;

  constructor(options: MicroVmDriverOptions) {
    this.#o = options;
  }

  get accelerator(): Accelerator {
    return this.#o.accelerator;
  }

  #recordPath(id: string): string {
    return join(this.#o.stateDir, 'vms', `${id}.json`);
  }

  #cachedRecord(id: string): VmRecord | undefined {
    if (!ID_PATTERN.test(id) || !existsSync(this.#recordPath(id))) return undefined;
    return JSON.parse(readFileSync(this.#recordPath(id), 'utf8')) as VmRecord;
  }

  #record(id: string): VmRecord {
    const record = this.#cachedRecord(id);
    if (!record) throw sandboxNotFound(id);
    return record;
  }

  async prepare(spec: SandboxSpec, signal?: AbortSignal): Promise<void> {
    if (!ID_PATTERN.test(spec.id)) throw sandboxIdInvalid(spec.id);
    if (spec.mounts?.length) {
      throw new NearbyError(
        'MICROVM_VOLUMES_UNSUPPORTED',
        `machine '${spec.id}' has volumes, which microVMs cannot mount yet`,
        {
          status: 422,
          hint: 'Run machines with volumes on a container host (`nearby server --runtime auto`).',
        },
      );
    }
    const previous = this.#cachedRecord(spec.id);
    await mkdir(spec.dir, { recursive: true });
    const disk = await baseDisk(join(this.#o.stateDir, 'disks'), spec.imageRootfs);
    signal?.throwIfAborted();
    const files = vmFiles(spec.dir);
    // A new image is a new root (as with a new container): the old overlay goes with the old image.
    if (!previous || previous.baseDisk !== disk || !existsSync(files.disk))
      await createOverlay(disk, files.disk);
    // The network part put the machine's addresses on the namespace's eth0; the guest takes them
    // over at start. Once taken, eth0 has none: keep what we recorded.
    const found = await namespaceAddresses(basename(spec.netnsPath));
    const network: GuestNetwork = found.ipv4 || found.ipv6 ? found : (previous?.network ?? {});
    const record: VmRecord = {
      id: spec.id,
      dir: spec.dir,
      imageRootfs: spec.imageRootfs,
      baseDisk: disk,
      netnsPath: spec.netnsPath,
      hostname: spec.hostname,
      process: spec.process,
      network,
      files: spec.files.map((f) => ({
        path: f.path,
        content: Buffer.from(f.content).toString('base64'),
        ...(f.mode === undefined ? {} : { mode: f.mode }),
      })),
      cpus: Math.max(1, Math.ceil(spec.resources.cpus)),
      memoryMb: Math.max(128, spec.resources.memoryMb),
    };
    await mkdir(join(this.#o.stateDir, 'vms'), { recursive: true });
    await writeFile(this.#recordPath(spec.id), `${JSON.stringify(record)}\n`);
  }

  async start(id: string): Promise<{ pid: number }> {
    const record = this.#record(id);
    const files = shimFiles(record.dir);
    const vm = vmFiles(record.dir);
    const running = liveQemuPid(record.dir);
    if (running) return { pid: running };
    const tap = await ensureMachineTap(basename(record.netnsPath));
    if (!existsSync(vm.disk)) await createOverlay(record.baseDisk, vm.disk);
    this.#base ??= baseInitramfs(this.#o.initPath, this.#o.assets);
    await writeFile(vm.initramfs, machineInitramfs(this.#base, record));
    for (const path of [
      files.exit,
      files.containerPid,
      vm.guestExit,
      vm.paused,
      vm.ctlSocket,
      vm.qmpSocket,
    ]) {
      await rm(path, { force: true });
    }
    const { accel, reason } = this.#o.accelerator;
    await appendFile(
      files.log,
      `${new Date().toISOString()} stderr F nearby: booting microVM (QEMU microvm, ${accel.toUpperCase()}: ${reason})\n`,
    );
    const command = [
      'nsenter',
      `--net=${record.netnsPath}`,
      ...qemuArgs({
        files: vm,
        pidFile: files.containerPid,
        kernel: this.#o.assets.kernel,
        accel,
        kernelArgs: this.#o.kernelArgs,
        cpus: record.cpus,
        memoryMb: record.memoryMb,
        tap,
        mac: macFor(id),
      }),
    ];
    const code = await launchUnderShim(this.#o.shimPath, files, command).catch((error: unknown) => {
      throw sandboxStartFailed(id, `cannot run the shim ${this.#o.shimPath}`, error);
    });
    const pid = code === 0 ? await readContainerPid(files) : undefined;
    if (!pid) throw sandboxStartFailed(id, await logTail(files));
    return { pid };
  }

  #killQemu(record: VmRecord): void {
    const pid = liveQemuPid(record.dir);
    if (!pid) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }

  async stop(id: string, options: StopOptions = {}): Promise<ExitInfo | undefined> {
    const record = this.#record(id);
    if (liveQemuPid(record.dir)) {
      if (existsSync(vmFiles(record.dir).paused)) await this.resume(id);
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      // A guest still booting cannot take the signal yet: the timeout then ends it all the same.
      const number = signalNumber(options.signal ?? 'SIGTERM');
      await sendSignal(vmFiles(record.dir).ctlSocket, number, deadline - Date.now()).catch(() => {});
      if (!(await waitForExit(record.dir, Math.max(0, deadline - Date.now())))) {
        this.#killQemu(record);
        await waitForExit(record.dir, KILL_GRACE_MS);
      }
    }
    return exitInfo(record.dir);
  }

  async kill(id: string, signal: string): Promise<void> {
    const record = this.#record(id);
    const number = signalNumber(signal);
    if (!liveQemuPid(record.dir)) return;
    if (number === constants.signals.SIGKILL) return this.#killQemu(record);
    await sendSignal(vmFiles(record.dir).ctlSocket, number).catch((error: unknown) => {
      throw guestUnreachable(id, `the signal ${signal} was not taken`, error);
    });
  }

  async suspend(id: string): Promise<void> {
    const record = this.#record(id);
    if (!liveQemuPid(record.dir)) throw sandboxNotRunning(id, 'stopped');
    await qmp(vmFiles(record.dir).qmpSocket, 'stop');
    await writeFile(vmFiles(record.dir).paused, '');
  }

  async resume(id: string): Promise<void> {
    const record = this.#record(id);
    if (!liveQemuPid(record.dir)) throw sandboxNotRunning(id, 'stopped');
    await qmp(vmFiles(record.dir).qmpSocket, 'cont');
    await rm(vmFiles(record.dir).paused, { force: true });
  }

  async destroy(id: string): Promise<void> {
    const record = this.#cachedRecord(id);
    if (!record) return;
    this.#killQemu(record);
    await waitForExit(record.dir, KILL_GRACE_MS);
    const shimPid = liveShimPid(shimFiles(record.dir));
    if (shimPid) {
      try {
        process.kill(shimPid, 'SIGKILL');
      } catch {}
    }
    await rm(record.dir, { recursive: true, force: true });
    await rm(this.#recordPath(id), { force: true });
  }

  async inspect(id: string): Promise<SandboxInfo> {
    const record = this.#cachedRecord(id);
    if (!record) return { state: 'absent' };
    const pid = liveQemuPid(record.dir);
    if (pid) return { state: existsSync(vmFiles(record.dir).paused) ? 'paused' : 'running', pid };
    const exit = await exitInfo(record.dir);
    return exit ? { state: 'stopped', exit } : { state: 'created' };
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.#o.stateDir, 'vms')).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length));
  }

  async exec(
    id: string,
    args: string[],
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ExecResult> {
    const record = this.#record(id);
    if (!liveQemuPid(record.dir)) throw sandboxNotRunning(id, 'stopped');
    const timeoutMs = options.timeoutMs ?? 60_000;
    return execInGuest(vmFiles(record.dir).ctlSocket, args, timeoutMs, options.signal).catch(
      (error: unknown) => {
        if (options.signal?.aborted) throw error;
        throw new NearbyError('EXEC_TIMEOUT', `command in microVM '${id}' did not finish in time`, {
          status: 504,
          hint: 'The guest may still be booting (seconds under TCG); raise the timeout or retry.',
          cause: error,
        });
      },
    );
  }

  async stats(id: string): Promise<SandboxStats> {
    const record = this.#record(id);
    const pid = liveQemuPid(record.dir);
    return pid ? qemuStats(pid) : { cpuUsageUsec: 0, memoryBytes: 0, pids: 0 };
  }

  logPath(id: string): string {
    return shimFiles(this.#record(id).dir).log;
  }
}
