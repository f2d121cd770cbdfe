/**
 * The container runtime driver: runs sandboxes with crun (or runc) through our shim, which outlives
 * nearby, so every operation reads state from the runtime and files, never from memory alone.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NearbyError } from '../../errors.ts';
import { runCommand } from '../../run-command.ts';
import { markStartStep } from '../../start-steps.ts';
import { bundleDir, writeBundle } from './bundle.ts';
import { cgroupsPath, oomCounterFile, oomKills, readUsage, removeCgroups } from './cgroups.ts';
import { runtimeConsole } from './console.ts';
import {
  runtimeCommandFailed,
  sandboxIdInvalid,
  sandboxNotFound,
  sandboxNotRunning,
  sandboxStartFailed,
} from './errors.ts';
import { keepFreezerArmed, thawCgroup } from './freezer.ts';
import { claimIdRange, ID_RANGE_SIZE, releaseIdRange } from './id-ranges.ts';
import { mountOverlay, type RootOptions, resetOverlay, unmountOverlay } from './overlay.ts';
import { writeRootFiles } from './root-files.ts';
import { saveCompiledSeccomp, useCachedSeccomp } from './seccomp-cache.ts';
import { launchShim, liveShimPid, logTail, readContainerPid, readExit, shimFiles } from './shim.ts';
import type {
  ConsoleOptions,
  ConsoleProcess,
  ExecResult,
  ExitInfo,
  RuntimeDriver,
  SandboxInfo,
  SandboxSpec,
  SandboxStats,
  StopOptions,
} from './types.ts';

export interface OciDriverOptions {
  /** Where the runtime's state (`<stateDir>/<runtime>`) and sandbox records live. */
  stateDir: string;
  runtime: 'crun' | 'runc';
  runtimeBin: string;
  shimPath: string;
  seccomp?: object;
  limitSwap?: boolean;
  nofile?: number;
  /** The helper that makes idmapped mounts (native/idmap-mount.c). */
  idmapMount: string;
  /** Machines run in user namespaces, each on its own range of host ids claimed here (crun only:
   *  runc 1.1 cannot idmap volumes). Absent: machines' root is the host's root. */
  idRangesDir?: string;
  /** The size of each machine's root disk (what its root filesystem may hold beyond the image). */
  rootDiskGb: number;
}

interface SandboxRecord {
  id: string;
  dir: string;
  imageRootfs: string;
  /** The process has a terminal: the runtime hands its master end to the shim. */
  tty?: boolean;
  /** The first of the machine's host ids (id-ranges.ts); absent without user namespaces. */
  hostId?: number;
  /** Volumes are mounted into it: never created ahead (a volume may change while it is stopped). */
  volumes?: boolean;
}

interface RuntimeState {
  status: 'created' | 'running' | 'paused' | 'stopped';
  pid: number;
}

const ID_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const KILL_GRACE_MS = 10_000;
/**
 * At most this many stopped machines of a host wait in a container created ahead: each holds
 * crun's init and a shim (~4 MB resident together, docs/scale-to-zero.md) while stopped.
 */
const AHEAD_LIMIT = 100;
/** In a sandbox's directory: its container was created ahead, for the bundle whose hash it holds. */
const AHEAD_FILE = 'created-ahead';
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** As Docker does (20.10+): any process in the machine may bind ports below 1024 and ping. Root in
 *  a user namespace holds no capability over the host-made network namespace, so without this an
 *  image starting as root could not listen on :80; its raw sockets stay refused. */
async function allowLowPortsAndPing(netnsPath: string): Promise<void> {
  // /proc/sys/net is the network namespace of the process that opens it (no procps needed).
  const script =
    'echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start && ' +
    "echo '0 2147483647' > /proc/sys/net/ipv4/ping_group_range";
  const result = await runCommand('nsenter', [`--net=${netnsPath}`, '/bin/sh', '-c', script]);
  if (result.code !== 0) throw runtimeCommandFailed(`sysctl in ${netnsPath}`, result.stderr);
}

export class OciRuntimeDriver implements RuntimeDriver {
  readonly name: string;
  readonly #options: OciDriverOptions;
  readonly #records = new Map<string, SandboxRecord>();

  constructor(options: OciDriverOptions) {
    this.name = options.runtime;
    this.#options = options;
  }

  get #root(): string {
    return join(this.#options.stateDir, this.#options.runtime);
  }

  #recordPath(id: string): string {
    return join(this.#options.stateDir, 'sandboxes', `${id}.json`);
  }

  #cachedRecord(id: string): SandboxRecord | undefined {
    // The file is the truth: another driver on the same state dir may have destroyed the sandbox.
    if (!ID_PATTERN.test(id) || !existsSync(this.#recordPath(id))) {
      this.#records.delete(id);
      return undefined;
    }
    const cached = this.#records.get(id);
    if (cached) return cached;
    const record = JSON.parse(readFileSync(this.#recordPath(id), 'utf8')) as SandboxRecord;
    this.#records.set(id, record);
    return record;
  }

  #record(id: string): SandboxRecord {
    const record = this.#cachedRecord(id);
    if (!record) throw sandboxNotFound(id);
    return record;
  }

  async #runtime(args: string[], timeoutMs = 30_000) {
    return runCommand(this.#options.runtimeBin, ['--root', this.#root, ...args], { timeoutMs });
  }

  async #state(id: string): Promise<RuntimeState | undefined> {
    const result = await this.#runtime(['state', id]);
    if (result.code !== 0) return undefined; // "does not exist": never started, or deleted
    return JSON.parse(result.stdout) as RuntimeState;
  }

  async prepare(spec: SandboxSpec, signal?: AbortSignal): Promise<void> {
    if (!ID_PATTERN.test(spec.id)) throw sandboxIdInvalid(spec.id);
    signal?.throwIfAborted();
    const previous = this.#cachedRecord(spec.id);
    // A new bundle: a container created ahead from the old one goes.
    if (previous) await this.#discardAhead(previous);
    // A new image is a new root (as with a new Docker container): drop the old writable layer.
    if (previous && previous.imageRootfs !== spec.imageRootfs) await resetOverlay(previous.dir);
    const { idRangesDir } = this.#options;
    await mkdir(join(this.#options.stateDir, 'sandboxes'), { recursive: true });
    const hostId = idRangesDir
      ? await claimIdRange(idRangesDir, this.#recordPath(spec.id), previous?.hostId)
      : undefined;
    const record: SandboxRecord = {
      id: spec.id,
      dir: spec.dir,
      imageRootfs: spec.imageRootfs,
      ...(spec.process.tty ? { tty: true } : {}),
      ...(hostId === undefined ? {} : { hostId }),
      ...(spec.mounts !== undefined && spec.mounts.length > 0 ? { volumes: true } : {}),
    };
    await mkdir(spec.dir, { recursive: true });
    await writeFile(this.#recordPath(spec.id), `${JSON.stringify(record)}\n`);
    this.#records.set(spec.id, record);
    await allowLowPortsAndPing(spec.netnsPath);
    const { merged } = await mountOverlay(spec.imageRootfs, spec.dir, this.#rootOptions(record));
    signal?.throwIfAborted();
    await writeRootFiles(merged, spec.files, hostId);
    await writeBundle(spec, {
      rootfs: basename(merged),
      cgroupsPath: cgroupsPath(spec.id),
      seccomp: this.#options.seccomp,
      limitSwap: this.#options.limitSwap,
      nofile: this.#options.nofile,
      ...(hostId === undefined ? {} : { ids: { hostId, count: ID_RANGE_SIZE } }),
    });
    if (this.#options.runtime === 'crun')
      await useCachedSeccomp(this.#configPath(spec.dir), this.#seccompCache);
  }

  #rootOptions(record: SandboxRecord): RootOptions {
    return {
      hostId: record.hostId,
      idCount: ID_RANGE_SIZE,
      idmapMount: this.#options.idmapMount,
      diskGb: this.#options.rootDiskGb,
    };
  }

  #configPath(dir: string): string {
    return join(bundleDir(dir), 'config.json');
  }

  get #seccompCache(): string {
    return join(this.#options.stateDir, 'seccomp-cache');
  }

  /** After a start that compiled the seccomp profile, later starts skip the compile (seccomp-cache.ts). */
  async #cacheSeccomp(id: string, dir: string): Promise<void> {
    if (this.#options.runtime !== 'crun') return;
    await saveCompiledSeccomp(this.#configPath(dir), join(this.#root, id), this.#seccompCache);
    await useCachedSeccomp(this.#configPath(dir), this.#seccompCache);
  }

  async start(id: string): Promise<{ pid: number }> {
    const record = this.#record(id);
    const files = shimFiles(record.dir);
    const ahead = await this.#startAhead(record);
    if (ahead !== undefined) return { pid: ahead };
    // Files, not `crun state`, decide here: a start is on the path of every cold request.
    const running = liveShimPid(files) && !existsSync(files.exit) ? await readContainerPid(files) : undefined;
    if (running) return { pid: running };
    markStartStep(id, 'runtime-begin');
    if (existsSync(join(this.#root, id))) {
      await this.#delete(id); // the previous run's container
      markStartStep(id, 'runtime-previous-deleted');
    }
    await mountOverlay(record.imageRootfs, record.dir, this.#rootOptions(record)); // again after a host reboot
    markStartStep(id, 'runtime-root-mounted');
    // Synchronous: through libuv's pool these two waited 1.3 ms on a waking request's path.
    rmSync(files.exit, { force: true });
    rmSync(files.containerPid, { force: true });
    removeCgroups(id); // a fresh cgroup, so its OOM counter speaks of this run only
    markStartStep(id, 'runtime-cgroup-fresh');
    const started = await launchShim({
      shimPath: this.#options.shimPath,
      files,
      oomFile: oomCounterFile(id),
      runtime: [this.#options.runtimeBin, '--root', this.#root],
      bundle: bundleDir(record.dir),
      id,
      consoleSocket: record.tty ? join(record.dir, 'console.sock') : undefined,
    }).catch((error: unknown) => {
      throw sandboxStartFailed(id, `cannot run the shim ${this.#options.shimPath}`, error);
    });

    markStartStep(id, 'runtime-shim-returned');
    // The shim returns once the runtime has started the process or failed to: no polling needed.
    const pid = started ? await readContainerPid(files) : undefined;
    if (!pid) throw sandboxStartFailed(id, await logTail(files));
    void this.#cacheSeccomp(id, record.dir).catch(() => {}); // an optimisation: never fails a start
    return { pid };
  }

  async #waitForExit(record: SandboxRecord, timeoutMs: number): Promise<boolean> {
    const files = shimFiles(record.dir);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (existsSync(files.exit)) return true;
      if (!liveShimPid(files)) {
        // Without its shim nobody writes the exit file: the runtime's word is all there is.
        const state = await this.#state(record.id);
        if (!state || state.status === 'stopped') return true;
      }
      await sleep(20);
    }
    return existsSync(files.exit);
  }

  async #exitInfo(id: string, record: SandboxRecord): Promise<ExitInfo | undefined> {
    const exit = await readExit(shimFiles(record.dir));
    // The shim reads the OOM counter at exit; the cgroup (kept until delete) may have counted later.
    if (exit && !exit.oomKilled) exit.oomKilled = (await oomKills(id)) > 0;
    return exit;
  }

  async stop(id: string, options: StopOptions = {}): Promise<ExitInfo | undefined> {
    const record = this.#record(id);
    const state = await this.#state(id);
    if (state?.status === 'running' || state?.status === 'paused') {
      // A frozen process cannot act on a signal: thaw it first so SIGTERM gets its chance.
      if (state.status === 'paused') await this.resume(id);
      await this.#signal(id, options.signal ?? 'SIGTERM');
      if (!(await this.#waitForExit(record, options.timeoutMs ?? 10_000))) {
        await this.#signal(id, 'SIGKILL');
        await this.#waitForExit(record, KILL_GRACE_MS);
      }
    }
    const exit = await this.#exitInfo(id, record);
    // The ended container goes now rather than at the next start: `crun delete` is a process
    // spawned (~10 ms), and a start is on the path of a request waking the machine. Only once the
    // shim has written how it ended, so the exit stays known without the runtime's state.
    if (state !== undefined && existsSync(shimFiles(record.dir).exit)) await this.#delete(id);
    if (options.startsAgain && state?.status !== 'created') await this.#createAhead(record);
    return exit;
  }

  /**
   * A stopped machine's next start made ready (docs/scale-to-zero.md, "Created ahead"): its
   * container created now — namespaces joined, root and mounts set up, cgroup made, its process
   * held by crun before its exec — so the wake only runs `crun start` (~5 ms instead of ~20 for
   * `crun run`, docs/perf.md). Not for a machine with a terminal or volumes, not with runc, not
   * past AHEAD_LIMIT on the host. Anything that fails here leaves the ordinary start.
   */
  async #createAhead(record: SandboxRecord): Promise<void> {
    if (this.#options.runtime !== 'crun' || record.tty || record.volumes) return;
    const waiting = [...this.#records.values()].filter((other) => existsSync(join(other.dir, AHEAD_FILE)));
    if (waiting.length >= AHEAD_LIMIT) return;
    const files = shimFiles(record.dir);
    await this.#shimGone(files); // the last run's, which exits once it has recorded the exit
    if (liveShimPid(files) !== undefined) return;
    rmSync(files.exit, { force: true });
    rmSync(files.containerPid, { force: true });
    removeCgroups(record.id);
    const bundle = readFileSync(this.#configPath(record.dir));
    const created = await launchShim({
      shimPath: this.#options.shimPath,
      files,
      oomFile: oomCounterFile(record.id),
      runtime: [this.#options.runtimeBin, '--root', this.#root],
      bundle: bundleDir(record.dir),
      id: record.id,
      create: true,
    }).catch(() => false);
    if (created && (await readContainerPid(files)) !== undefined) {
      writeFileSync(join(record.dir, AHEAD_FILE), sha256(bundle));
      return;
    }
    await this.#delete(record.id).catch(() => {});
    await this.#shimGone(files);
  }

  /**
   * Starts the container created ahead, if there is one for the bundle as it is now: its pid,
   * else undefined (and whatever was created ahead is gone: the ordinary start follows).
   */
  async #startAhead(record: SandboxRecord): Promise<number | undefined> {
    const marker = join(record.dir, AHEAD_FILE);
    const hash = existsSync(marker) ? readFileSync(marker, 'utf8') : undefined;
    if (hash === undefined) return undefined;
    const files = shimFiles(record.dir);
    if (hash === sha256(readFileSync(this.#configPath(record.dir))) && liveShimPid(files) !== undefined) {
      markStartStep(record.id, 'runtime-begin');
      const result = await this.#runtime(['start', record.id]);
      const pid = result.code === 0 ? await readContainerPid(files) : undefined;
      if (pid !== undefined) {
        rmSync(marker, { force: true });
        markStartStep(record.id, 'runtime-started-ahead');
        return pid;
      }
    }
    await this.#discardAhead(record);
    return undefined;
  }

  /** The container created ahead, if any, deleted (its process was never started). */
  async #discardAhead(record: SandboxRecord): Promise<void> {
    const marker = join(record.dir, AHEAD_FILE);
    if (!existsSync(marker)) return;
    rmSync(marker, { force: true });
    await this.#delete(record.id);
    // Its shim records the held process's end: done before a start clears that record.
    await this.#shimGone(shimFiles(record.dir));
  }

  /** Until the sandbox's shim has exited (it does once the runtime's process is gone). */
  async #shimGone(files: ReturnType<typeof shimFiles>): Promise<void> {
    const deadline = Date.now() + KILL_GRACE_MS;
    while (liveShimPid(files) !== undefined && Date.now() < deadline) await sleep(5);
  }

  async #signal(id: string, signal: string): Promise<void> {
    const result = await this.#runtime(['kill', id, signal.replace(/^SIG/, '')]);
    // Losing the race with an exit is fine: the exit file tells how it ended.
    if (
      result.code !== 0 &&
      !/not running|does not exist|No such process|No such file or directory/i.test(result.stderr)
    ) {
      throw runtimeCommandFailed(`${this.name} kill ${id} ${signal}`, result.stderr);
    }
  }

  async kill(id: string, signal: string): Promise<void> {
    this.#record(id);
    await this.#signal(id, signal);
  }

  async suspend(id: string): Promise<void> {
    this.#record(id);
    keepFreezerArmed(); // so that the thaw of the wake to come costs no kernel code patch
    const result = await this.#runtime(['pause', id]);
    if (result.code !== 0) throw runtimeCommandFailed(`${this.name} pause ${id}`, result.stderr);
  }

  async resume(id: string): Promise<void> {
    this.#record(id);
    if (thawCgroup(id)) {
      markStartStep(id, 'runtime-thawed');
      return; // on the path of a request waiting for this machine
    }
    const result = await this.#runtime(['resume', id]);
    if (result.code !== 0) throw runtimeCommandFailed(`${this.name} resume ${id}`, result.stderr);
    markStartStep(id, 'runtime-thawed');
  }

  async #delete(id: string): Promise<void> {
    const result = await this.#runtime(['delete', '--force', id]);
    if (result.code !== 0 && !/does not exist/i.test(result.stderr)) {
      throw runtimeCommandFailed(`${this.name} delete ${id}`, result.stderr);
    }
  }

  async destroy(id: string): Promise<void> {
    const record = this.#cachedRecord(id);
    const state = await this.#state(id);
    if (state?.status === 'paused') await this.resume(id);
    if (state?.status === 'running' || state?.status === 'paused') {
      await this.#signal(id, 'SIGKILL');
      if (record) await this.#waitForExit(record, KILL_GRACE_MS);
    }
    if (state) await this.#delete(id);
    removeCgroups(id);
    if (!record) return;
    const shimPid = liveShimPid(shimFiles(record.dir));
    if (shimPid) {
      try {
        process.kill(shimPid, 'SIGKILL');
      } catch {}
    }
    await unmountOverlay(record.dir);
    await rm(record.dir, { recursive: true, force: true });
    if (record.hostId !== undefined && this.#options.idRangesDir)
      await releaseIdRange(this.#options.idRangesDir, this.#recordPath(id), record.hostId);
    await rm(this.#recordPath(id), { force: true });
    this.#records.delete(id);
  }

  async inspect(id: string): Promise<SandboxInfo> {
    const record = this.#cachedRecord(id);
    if (!record) return { state: 'absent' };
    const state = await this.#state(id);
    const exit = await this.#exitInfo(id, record);
    if (!state) return exit ? { state: 'stopped', exit } : { state: 'created' };
    if (state.status === 'stopped') return exit ? { state: 'stopped', exit } : { state: 'stopped' };
    return { state: state.status, pid: state.pid };
  }

  async list(): Promise<string[]> {
    const names = await readdir(join(this.#options.stateDir, 'sandboxes')).catch(() => [] as string[]);
    return names.filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length));
  }

  async exec(
    id: string,
    args: string[],
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<ExecResult> {
    this.#record(id);
    const state = await this.#state(id);
    if (state?.status !== 'running') throw sandboxNotRunning(id, state?.status ?? 'not started');
    const result = await runCommand(
      this.#options.runtimeBin,
      ['--root', this.#root, 'exec', '--no-new-privs', id, ...args],
      {
        timeoutMs: options.timeoutMs,
        signal: options.signal,
      },
    );
    if (result.code === null) {
      throw new NearbyError('EXEC_TIMEOUT', `command in sandbox '${id}' did not finish in time`, {
        status: 504,
        hint: 'Raise the timeout, or run long jobs as their own machine.',
      });
    }
    return { stdout: result.stdout, stderr: result.stderr, exitCode: result.code };
  }

  async console(id: string, args: string[], options: ConsoleOptions): Promise<ConsoleProcess> {
    this.#record(id);
    const state = await this.#state(id);
    if (state?.status !== 'running') throw sandboxNotRunning(id, state?.status ?? 'not started');
    // `exec --env` replaces the process environment instead of adding to it: start from the machine's.
    const config = JSON.parse(readFileSync(join(bundleDir(this.#record(id).dir), 'config.json'), 'utf8'));
    const env = [...(config.process?.env ?? []), ...(options.env ?? [])];
    return runtimeConsole({ bin: this.#options.runtimeBin, root: this.#root }, id, args, { ...options, env });
  }

  async stats(id: string): Promise<SandboxStats> {
    this.#record(id);
    return readUsage(id);
  }

  logPath(id: string): string {
    return shimFiles(this.#record(id).dir).log;
  }
}
