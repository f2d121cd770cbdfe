/**
 * The agent's reconcile loop: for every machine assigned to this host, make the sandbox match the
 * record's desired state, and report what is true in `machine-status/<host>/<id>`. One worker per
 * machine at a time; any change (record, exit) just marks the machine dirty and runs it again.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage, isNearbyError, NearbyError } from '../errors.ts';
import {
  keys,
  loadSecretKey,
  type MachineEvent,
  type MachineRecord,
  type MachineStatus,
  parseDurationMs,
  pushEvent,
  SecretBox,
  type SecretRecord,
  secretAad,
  subjects,
} from '../model/mod.ts';
import type { HostNetwork, MachineAddresses } from '../net/types.ts';
import { type PullTotals, throttle } from '../oci/pull-progress.ts';
import type { ImageService } from '../oci/types.ts';
import { isAlive } from '../process-alive.ts';
import { markStartStep } from '../start-steps.ts';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/mod.ts';
import { backoff, isStoreAway, StoreOutage, untilStoreAnswers } from '../store/outage.ts';
import type { VolumeMounter } from '../volumes/mod.ts';
import { LogShipper } from './log-shipper.ts';
import { imageRefString, machineEnv, machineEtcFiles } from './machine-env.ts';
import { appOrg } from './network-members.ts';
import { processSpec } from './process-spec.ts';
import type { ExitInfo, RuntimeDriver, StopOptions } from './runtime/types.ts';
import { MAX_TIMER_MS, nextScheduledRun } from './schedule.ts';

export interface ReconcilerOptions {
  store: Store;
  host: string;
  region: string;
  dataDir: string;
  images: ImageService;
  runtime: RuntimeDriver;
  network: HostNetwork;
  log: Logger;
  /** Mounts the machines' volumes; without it a machine with `mounts` fails to start. */
  volumes?: VolumeMounter;
  /** An app's secret values, when this host does not hold the secrets key (a cluster host asks the API). */
  secrets?: (app: string) => Promise<Record<string, string>>;
  /** Where the machines' resolver listens (src/dns/): their /etc/resolv.conf names it. */
  resolver?: MachineAddresses;
}

const EXIT_POLL_MS = 250;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_RETRIES = 10;
const PIDS_LIMIT = 4096;
/** How often a running image pull's byte count is written to the machine's status. */
const PULL_PROGRESS_MS = 250;

export class Reconciler {
  readonly #o: ReconcilerOptions;
  readonly #records = new Map<string, MachineRecord>();
  readonly #statuses = new Map<string, MachineStatus>();
  readonly #busy = new Set<string>();
  readonly #dirty = new Set<string>();
  /** Sandboxes prepared by this process (prepare is redone once after a restart: it is idempotent). */
  readonly #prepared = new Map<string, string>();
  /** Pids of started machines, watched for exits. */
  readonly #running = new Map<string, number>();
  readonly #shippers = new Map<string, LogShipper>();
  readonly #restartTimers = new Map<string, NodeJS.Timeout>();
  /** The secrets (`#secretsTag`) each sandbox was prepared with. */
  readonly #preparedSecrets = new Map<string, string>();
  /** Work found outside the worker (an exit, a restart coming due), done by the next reconcile. */
  readonly #exited = new Set<string>();
  readonly #restartDue = new Set<string>();
  readonly #scheduleTimers = new Map<string, NodeJS.Timeout>();
  readonly #scheduleDue = new Set<string>();
  #secretBox: SecretBox | undefined;
  #idle: Promise<void> = Promise.resolve();
  #settle: (() => void) | undefined;
  /**
   * Fail static: while the store is away machines keep running and exits still restart them; what
   * could not be written or done waits here and is done when the store is back.
   */
  readonly #outage: StoreOutage;
  readonly #shipperOutage: StoreOutage;
  /** Machines whose status in the store is older than `#statuses` (or whose key should be gone). */
  readonly #unwritten = new Set<string>();
  /** Machines whose reconcile stopped on the store being away: run again once it is back. */
  readonly #awaitingStore = new Set<string>();
  /** Each machine's status writes, one after the other (each writes the latest status). */
  readonly #statusWrites = new Map<string, Promise<void>>();
  #recovering = false;
  #signal: AbortSignal | undefined;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
    this.#outage = new StoreOutage(options.log, 'agent reconciler');
    this.#shipperOutage = new StoreOutage(options.log, 'agent log shipper');
  }

  /** Loads what this host reported before a restart, then follows the store until `signal`. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    await mkdir(join(this.#o.dataDir, 'agent'), { recursive: true });
    const reported = await untilStoreAnswers(
      () => this.#o.store.list<MachineStatus>(keys.machineStatuses(this.#o.host)),
      this.#outage,
      signal,
    );
    for (const { value } of reported ?? []) this.#statuses.set(value.id, value);
    const exits = setInterval(() => this.#checkExits(), EXIT_POLL_MS);
    signal.addEventListener('abort', () => clearInterval(exits), { once: true });
    const changes = follow<MachineRecord>(this.#o.store, keys.machines(), {
      signal,
      log: this.#o.log,
      what: 'agent watch of machines',
    });
    for await (const event of changes) {
      if (event.type === 'synced') {
        await this.#adoptAll();
        continue;
      }
      const id = event.key.slice(event.key.lastIndexOf('/') + 1);
      if (event.type === 'delete') {
        if (!this.#records.has(id)) continue;
        this.#records.delete(id);
      } else {
        if (event.value.host !== this.#o.host) continue;
        this.#records.set(id, event.value);
        markStartStep(id, 'agent-record-seen');
      }
      this.kick(id);
    }
    for (const timer of this.#restartTimers.values()) clearTimeout(timer);
    for (const timer of this.#scheduleTimers.values()) clearTimeout(timer);
    await Promise.all([...this.#shippers.values()].map((shipper) => shipper.stop()));
  }

  /** Resolves when no machine has work pending (tests and orderly shutdown use it). */
  idle(): Promise<void> {
    return this.#busy.size === 0 ? Promise.resolve() : this.#idle;
  }

  kick(id: string): void {
    if (this.#busy.has(id)) {
      this.#dirty.add(id);
      return;
    }
    if (this.#busy.size === 0) this.#idle = new Promise((resolve) => (this.#settle = resolve));
    this.#busy.add(id);
    void (async () => {
      do {
        this.#dirty.delete(id);
        try {
          await this.#reconcile(id);
        } catch (error) {
          if (isStoreAway(error)) this.#whenStoreBack(id, error);
          else await this.#fail(id, error);
        }
      } while (this.#dirty.has(id));
      this.#busy.delete(id);
      if (this.#busy.size === 0) this.#settle?.();
    })();
  }

  /** After a restart: running sandboxes are adopted as they are; the rest get reconciled. */
  async #adoptAll(): Promise<void> {
    for (const [id, record] of this.#records) {
      const status = this.#statuses.get(id);
      if (status && status.instance_id === record.instance_id && status.state === 'started') {
        const info = await this.#o.runtime.inspect(id).catch(() => undefined);
        if (info?.state === 'running' && info.pid) {
          this.#running.set(id, info.pid);
          this.#shipper(record).start();
          this.#o.log.info({ machine: id, pid: info.pid }, 'adopted running machine');
          continue;
        }
        // It died while nobody watched: treat it as an exit, so the restart policy decides.
        this.#running.set(id, -1);
      }
      this.kick(id);
    }
    // Statuses of machines that no longer exist in the store: clean their sandboxes.
    for (const id of this.#statuses.keys()) if (!this.#records.has(id)) this.kick(id);
  }

  #checkExits(): void {
    for (const [id, pid] of this.#running) {
      if (pid > 0 && isAlive(pid)) continue;
      this.#running.delete(id);
      this.#exited.add(id);
      this.kick(id);
    }
  }

  async #onExit(id: string): Promise<void> {
    const record = this.#records.get(id);
    const status = this.#statuses.get(id);
    if (!record || !status || status.state !== 'started') return;
    const info = await this.#o.runtime.inspect(id).catch(() => undefined);
    const exit = info?.exit ?? { exitCode: 255, oomKilled: false, at: new Date() };
    const policy = record.config.restart?.policy ?? 'on-failure';
    const retries = record.config.restart?.max_retries ?? DEFAULT_MAX_RETRIES;
    const wantsRestart =
      record.desired.state === 'started' &&
      (policy === 'always' || (policy === 'on-failure' && (exit.exitCode !== 0 || exit.oomKilled))) &&
      status.restarts < retries;
    const description = describeExit(exit);
    this.#o.log.info({ machine: id, app: record.app, ...exit }, `machine ${description}`);
    await this.#setStatus(id, {
      state: 'stopped',
      pid: undefined,
      exit: toStatusExit(exit),
      error: exit.exitCode === 0 ? undefined : `main process ${description}`,
      event: {
        type: 'exit',
        status: 'stopped',
        source: 'agent',
        request: {
          exit_event: { exit_code: exit.exitCode, oom_killed: exit.oomKilled, signal: exit.signal },
        },
      },
    });
    if (!wantsRestart) return;
    const delay = Math.min(500 * 2 ** status.restarts, 10_000);
    this.#restartTimers.set(
      id,
      setTimeout(() => {
        this.#restartTimers.delete(id);
        this.#restartDue.add(id);
        this.kick(id);
      }, delay),
    );
  }

  async #restart(id: string): Promise<void> {
    const record = this.#records.get(id);
    const status = this.#statuses.get(id);
    if (!record || !status || status.state !== 'stopped' || status.seq !== record.desired.seq) return;
    if (record.desired.state !== 'started' || status.instance_id !== record.instance_id) return;
    await this.#setStatus(id, { restarts: status.restarts + 1 });
    await this.#start(record, 'restart policy');
  }

  async #reconcile(id: string): Promise<void> {
    const record = this.#records.get(id);
    let status = this.#statuses.get(id);
    const { runtime } = this.#o;

    if (!record || record.destroyed_at) {
      if (!status) return;
      if (status.state !== 'destroyed') await this.#teardown(id);
      this.#statuses.delete(id);
      await this.#writeStatus(id);
      return;
    }
    if (this.#exited.delete(id)) await this.#onExit(id);
    if (this.#restartDue.delete(id)) await this.#restart(id);
    if (this.#scheduleDue.delete(id)) await this.#scheduledStart(id);
    this.#armSchedule(record);
    if (record.desired.state === 'destroyed') {
      if (status?.state === 'destroyed') return;
      await this.#setStatus(id, { state: 'destroying', seq: record.desired.seq }, record);
      await this.#teardown(id);
      await this.#setStatus(id, { state: 'destroyed', pid: undefined, event: evt('destroy', 'destroyed') });
      return;
    }
    // A new version: the old sandbox goes, the new one is made from the new config (same addresses).
    if (status && status.instance_id !== record.instance_id) {
      if (status.state === 'started' || status.state === 'suspended') {
        await this.#stopSandbox(record, { signal: record.config.stop_config?.signal });
      }
      await runtime.destroy(id);
      this.#prepared.delete(id);
    }
    if (this.#prepared.get(id) !== record.instance_id) {
      // After a restart of nearby a running sandbox is adopted as it is, not prepared again.
      const wasRunning =
        status?.instance_id === record.instance_id &&
        (status.state === 'started' || status.state === 'suspended');
      if (!wasRunning) await this.#prepare(record);
      else this.#prepared.set(id, record.instance_id);
      status = this.#statuses.get(id);
    }
    if (!status || status.seq === record.desired.seq) return;

    const desired = record.desired;
    switch (desired.state) {
      case 'started':
        clearTimeout(this.#restartTimers.get(id));
        if (status.state === 'suspended') {
          markStartStep(id, 'agent-resume');
          await runtime.resume(id);
          // The process frozen is the one thawed: its pid needs no `crun state` (a process spawned,
          // ~30 ms on a busy host) before the status that puts the machine back into HAProxy.
          const pid =
            status.pid !== undefined && isAlive(status.pid) ? status.pid : (await runtime.inspect(id)).pid;
          markStartStep(id, 'agent-pid-known');
          if (pid) this.#running.set(id, pid);
          const reason = desired.reason ?? 'api';
          await this.#setStatus(id, {
            state: 'started',
            seq: desired.seq,
            event: evt('resume', 'started', { reason }),
          });
          markStartStep(id, 'agent-resumed-written');
          this.#o.log.info({ machine: id, app: record.app, reason }, 'machine resumed');
        } else if (status.state !== 'started') {
          await this.#setStatus(id, { seq: desired.seq, restarts: 0 });
          await this.#start(record, desired.reason ?? 'api');
        } else if (desired.restart) {
          await this.#setStatus(id, {
            state: 'stopping',
            seq: desired.seq,
            event: evt('restart', 'stopping'),
          });
          const exit = await this.#stopSandbox(record, {
            signal: desired.signal,
            timeoutMs: desired.timeout_ms,
            // Stopped for being idle: the next request wakes it.
            startsAgain: desired.reason === 'idle',
          });
          await this.#setStatus(id, {
            state: 'stopped',
            restarts: 0,
            exit: exit && toStatusExit(exit),
            event: evt('exit', 'stopped', {
              exit_event: exit && { exit_code: exit.exitCode, signal: exit.signal },
            }),
          });
          await this.#start(record, 'restart');
        } else {
          await this.#setStatus(id, { seq: desired.seq });
        }
        return;
      case 'stopped':
        clearTimeout(this.#restartTimers.get(id));
        if (status.state === 'started' || status.state === 'suspended') {
          await this.#setStatus(id, {
            state: 'stopping',
            seq: desired.seq,
            event: evt('stop', 'stopping', { reason: desired.reason ?? 'api' }),
          });
          this.#o.log.info(
            { machine: id, app: record.app, reason: desired.reason ?? 'api' },
            'stopping machine',
          );
          const exit = await this.#stopSandbox(record, {
            signal: desired.signal,
            timeoutMs: desired.timeout_ms,
            // Stopped for being idle: the next request wakes it.
            startsAgain: desired.reason === 'idle',
          });
          await this.#setStatus(id, {
            state: 'stopped',
            pid: undefined,
            exit: exit && toStatusExit(exit),
            error: undefined,
            event: evt('exit', 'stopped', {
              exit_event: exit && { exit_code: exit.exitCode, signal: exit.signal },
            }),
          });
        } else {
          await this.#setStatus(id, {
            seq: desired.seq,
            state: status.state === 'created' ? 'stopped' : status.state,
          });
        }
        return;
      case 'suspended':
        if (status.state === 'started') {
          await this.#setStatus(id, { state: 'suspending', seq: desired.seq });
          await runtime.suspend(id);
          this.#running.delete(id);
          await this.#setStatus(id, {
            state: 'suspended',
            event: evt('suspend', 'suspended', { reason: desired.reason ?? 'api' }),
          });
          this.#o.log.info(
            { machine: id, app: record.app, reason: desired.reason ?? 'api' },
            'machine suspended',
          );
        } else {
          await this.#setStatus(id, { seq: desired.seq });
        }
        return;
    }
  }

  async #prepare(record: MachineRecord): Promise<void> {
    const { id } = record;
    const status = this.#statuses.get(id);
    if (!status || status.instance_id !== record.instance_id) {
      await this.#setStatus(
        id,
        {
          state: 'created',
          seq: 0,
          restarts: 0,
          exit: undefined,
          error: undefined,
          pid: undefined,
          pull: undefined,
        },
        record,
      );
    }
    const ref = imageRefString(record);
    const progress = throttle(
      (totals: PullTotals) => this.#setStatus(id, { pull: { ref, ...totals } }),
      PULL_PROGRESS_MS,
      (error) =>
        this.#o.log.warn({ machine: id, error: errorMessage(error) }, 'could not report pull progress'),
    );
    const image = await this.#o.images
      .pull(ref, { onTotals: (totals) => progress.update(totals) })
      .finally(() => progress.flush());
    const current = this.#statuses.get(id);
    const inUse = [...this.#statuses.values()]
      .filter((s) => s.id !== id)
      .flatMap((s) => [s.ipv4 ?? '', s.private_ip ?? '']);
    const addresses =
      current?.ipv4 && current.private_ip
        ? { ipv4: current.ipv4, ipv6: current.private_ip }
        : this.#o.network.allocate(inUse.filter(Boolean));
    await this.#setStatus(id, {
      ipv4: addresses.ipv4,
      private_ip: addresses.ipv6,
      image_digest: image.ref.digest,
    });
    const org = await appOrg(this.#o.store, record.app);
    const attachment = await this.#o.network.attach(id, addresses, org);
    this.#preparedSecrets.set(id, await this.#secretsTag(record.app));
    const secrets = await this.#secrets(record.app);
    const process = processSpec(
      image.config,
      record.config,
      image.rootfs,
      machineEnv(record, attachment),
      secrets,
    );
    const guest = record.config.guest ?? {};
    const files = [
      ...machineEtcFiles(record, attachment, this.#o.resolver),
      ...(record.config.files ?? []).map((file) => ({
        path: file.guest_path,
        content: Buffer.from(fileValue(file, secrets), 'base64'),
        mode: file.mode,
      })),
    ];
    await this.#o.runtime.prepare({
      id,
      imageRootfs: image.rootfs,
      dir: this.#machineDir(id),
      process,
      hostname: id,
      resources: {
        cpus: guest.cpus ?? 1,
        memoryMb: guest.memory_mb ?? 256,
        pids: PIDS_LIMIT,
        cpuKind: guest.cpu_kind ?? 'shared',
      },
      netnsPath: attachment.netnsPath,
      files,
      mounts: await this.#volumeMounts(record),
      ...(record.config.runtime ? { runtime: record.config.runtime } : {}),
    });
    this.#prepared.set(id, record.instance_id);
  }

  async #start(record: MachineRecord, reason: string): Promise<void> {
    const { id } = record;
    markStartStep(id, 'agent-start');
    // Secrets are read at prepare: a start after they changed prepares again, so it sees them.
    // With the store away (a restart after an exit) the machine starts with the secrets it had.
    const secretsTag = await this.#secretsTag(record.app).catch((error) => {
      if (!isStoreAway(error) || !this.#preparedSecrets.has(id)) throw error;
      return this.#preparedSecrets.get(id);
    });
    const stale =
      this.#prepared.get(id) !== record.instance_id || this.#preparedSecrets.get(id) !== secretsTag;
    markStartStep(id, 'agent-secrets-read');
    if (stale) await this.#prepare(record);
    else await this.#volumeMounts(record); // mounted and grown to any new size before each start
    markStartStep(id, stale ? 'agent-prepared' : 'agent-volumes-mounted');
    await this.#setStatus(id, { state: 'starting' });
    markStartStep(id, 'agent-starting-written');
    this.#shipper(record).start();
    const { pid } = await this.#o.runtime.start(id).catch(async (error) => {
      // The sandbox went away behind our back (removed by hand, a host reboot): make it again.
      if (!isNearbyError(error, 'SANDBOX_NOT_FOUND')) throw error;
      await this.#prepare(record);
      return this.#o.runtime.start(id);
    });
    markStartStep(id, 'agent-runtime-started');
    this.#running.set(id, pid);
    await this.#setStatus(id, {
      state: 'started',
      pid,
      exit: undefined,
      error: undefined,
      event: evt('start', 'started', { reason }),
    });
    markStartStep(id, 'agent-started-written');
    this.#o.log.info({ machine: id, app: record.app, pid, reason }, 'machine started');
  }

  async #stopSandbox(record: MachineRecord, options: StopOptions) {
    this.#running.delete(record.id);
    const timeoutMs =
      options.timeoutMs ?? parseDurationMs(record.config.stop_config?.timeout) ?? DEFAULT_STOP_TIMEOUT_MS;
    const signal = options.signal ?? record.config.stop_config?.signal ?? 'SIGTERM';
    const exit = await this.#o.runtime.stop(record.id, { ...options, signal, timeoutMs });
    await this.#shippers.get(record.id)?.flush();
    return exit;
  }

  /** Host directories of the machine's volumes, each mounted and at its size. */
  async #volumeMounts(record: MachineRecord): Promise<{ source: string; destination: string }[]> {
    const mounts = record.config.mounts ?? [];
    if (mounts.length === 0) return [];
    const { volumes } = this.#o;
    if (!volumes)
      throw new NearbyError('VOLUMES_UNAVAILABLE', 'this agent cannot mount volumes', { status: 500 });
    const result = [];
    for (const mount of mounts) {
      if (!mount.volume) {
        throw new NearbyError('VOLUME_NOT_ATTACHED', `mount ${mount.path} names no volume`, {
          status: 422,
          hint: 'update the machine with mounts[].volume set to a volume id',
        });
      }
      result.push({ source: await volumes.mountFor(record.app, mount.volume), destination: mount.path });
    }
    return result;
  }

  /** The app's secrets, decrypted, for the machine's env and files (never written to its record). */
  /** Names and digests of the app's secrets: changes whenever one is set or unset. */
  async #secretsTag(app: string): Promise<string> {
    const sealed = await this.#o.store.list<SecretRecord>(keys.secrets(app));
    return sealed.map(({ value }) => `${value.name}:${value.digest}`).join(',');
  }

  async #secrets(app: string): Promise<Record<string, string>> {
    const sealed = await this.#o.store.list<SecretRecord>(keys.secrets(app));
    if (sealed.length === 0) return {};
    if (this.#o.secrets) return this.#o.secrets(app);
    this.#secretBox ??= new SecretBox(loadSecretKey(this.#o.dataDir));
    const box = this.#secretBox;
    return Object.fromEntries(
      sealed.map(({ value }) => [value.name, box.open(value.sealed, secretAad(app, value.name))]),
    );
  }

  /** A stopped machine with a `schedule` is started again one period after its last start. */
  #armSchedule(record: MachineRecord): void {
    const status = this.#statuses.get(record.id);
    const schedule = record.config.schedule;
    if (!schedule || this.#scheduleTimers.has(record.id)) return;
    if (!status || record.desired.state !== 'started' || status.state !== 'stopped') return;
    const lastStart = status.events.find((event) => event.type === 'start')?.timestamp ?? Date.now();
    const wait = Math.min(Math.max(0, nextScheduledRun(schedule, lastStart) - Date.now()), MAX_TIMER_MS);
    this.#scheduleTimers.set(
      record.id,
      setTimeout(() => {
        this.#scheduleTimers.delete(record.id);
        this.#scheduleDue.add(record.id);
        this.kick(record.id);
      }, wait),
    );
  }

  async #scheduledStart(id: string): Promise<void> {
    const record = this.#records.get(id);
    const status = this.#statuses.get(id);
    if (!record?.config.schedule || !status || status.state !== 'stopped') return;
    if (record.desired.state !== 'started' || status.instance_id !== record.instance_id) return;
    const lastStart = status.events.find((event) => event.type === 'start')?.timestamp ?? 0;
    if (nextScheduledRun(record.config.schedule, lastStart) > Date.now()) return; // a long wait re-armed
    await this.#setStatus(id, { restarts: 0 });
    await this.#start(record, `schedule ${record.config.schedule}`);
  }

  async #teardown(id: string): Promise<void> {
    this.#running.delete(id);
    clearTimeout(this.#restartTimers.get(id));
    clearTimeout(this.#scheduleTimers.get(id));
    this.#scheduleTimers.delete(id);
    await this.#o.runtime.destroy(id);
    await this.#o.network.detach(id);
    this.#prepared.delete(id);
    const shipper = this.#shippers.get(id);
    this.#shippers.delete(id);
    await shipper?.stop();
    await rm(this.#offsetPath(id), { force: true });
  }

  async #fail(id: string, error: unknown): Promise<void> {
    const message = errorMessage(error);
    this.#o.log.error({ machine: id, err: error }, `machine failed: ${message}`);
    const record = this.#records.get(id);
    if (!record) return;
    await this.#setStatus(
      id,
      {
        state: 'failed',
        seq: record.desired.seq,
        error: message,
        event: evt('launch', 'failed', { error: message }),
      },
      record,
    ).catch(() => {});
  }

  #shipper(record: MachineRecord): LogShipper {
    let shipper = this.#shippers.get(record.id);
    if (!shipper) {
      shipper = new LogShipper(
        this.#o.store,
        subjects.logs(record.app, record.region, record.id),
        this.#o.runtime.logPath(record.id),
        this.#offsetPath(record.id),
        { machine: record.id, region: record.region },
        this.#shipperOutage,
      );
      this.#shippers.set(record.id, shipper);
    }
    return shipper;
  }

  #machineDir(id: string): string {
    return join(this.#o.dataDir, 'machines', id);
  }

  #offsetPath(id: string): string {
    return join(this.#o.dataDir, 'agent', `${id}.log-offset`);
  }

  async #setStatus(
    id: string,
    patch: Partial<MachineStatus> & { event?: Omit<MachineEvent, 'timestamp'> },
    record?: MachineRecord,
  ): Promise<void> {
    const { event, ...fields } = patch;
    const base: MachineStatus = this.#statuses.get(id) ?? {
      id,
      app: record?.app ?? '',
      instance_id: record?.instance_id ?? '',
      state: 'created',
      seq: 0,
      restarts: 0,
      events: [],
      updated_at: '',
    };
    const next: MachineStatus = {
      ...base,
      ...(record ? { app: record.app, instance_id: record.instance_id } : {}),
      ...fields,
      events: event ? pushEvent(base.events, { ...event, timestamp: Date.now() }) : base.events,
      updated_at: new Date().toISOString(),
    };
    this.#statuses.set(id, next);
    await this.#writeStatus(id);
  }

  /**
   * Writes the machine's status as it is now, or deletes its key once it is gone. While the store
   * is away this does not throw: the write waits and is done when the store is back.
   */
  #writeStatus(id: string): Promise<void> {
    const write = (this.#statusWrites.get(id) ?? Promise.resolve()).then(async () => {
      const status = this.#statuses.get(id);
      const key = keys.machineStatus(this.#o.host, id);
      try {
        if (status) await this.#o.store.put(key, status);
        else await this.#o.store.delete(key);
        this.#unwritten.delete(id);
        this.#outage.back();
      } catch (error) {
        if (!isStoreAway(error)) throw error;
        this.#unwritten.add(id);
        this.#whenStoreBack(undefined, error);
      }
    });
    const settled = write.catch(() => {});
    this.#statusWrites.set(id, settled);
    void settled.then(() => {
      if (this.#statusWrites.get(id) === settled) this.#statusWrites.delete(id);
    });
    return write;
  }

  /** Notes what waits for the store (a machine to reconcile again), and retries until it is back. */
  #whenStoreBack(id: string | undefined, error: unknown): void {
    this.#outage.lost(error);
    if (id !== undefined) this.#awaitingStore.add(id);
    if (this.#recovering) return;
    this.#recovering = true;
    void (async () => {
      const signal = this.#signal;
      for (let attempt = 0; this.#unwritten.size + this.#awaitingStore.size > 0; attempt++) {
        await backoff(attempt, signal);
        if (signal?.aborted) break;
        for (const waiting of [...this.#unwritten]) {
          await this.#writeStatus(waiting).catch((failure) =>
            this.#o.log.warn(
              { machine: waiting, err: errorMessage(failure) },
              'could not write machine status',
            ),
          );
        }
        if (this.#unwritten.size > 0) continue;
        const again = await this.#o.store.revision().then(
          () => [...this.#awaitingStore],
          () => [],
        );
        for (const machine of again) {
          this.#awaitingStore.delete(machine);
          this.kick(machine);
        }
      }
      this.#recovering = false;
    })();
  }
}

function evt(
  type: string,
  status: string,
  request?: Record<string, unknown>,
): Omit<MachineEvent, 'timestamp'> {
  return { type, status, source: 'agent', ...(request ? { request } : {}) };
}

/** A file's content as base64: inline, or from an app secret (which holds base64, as on Fly). */
function fileValue(
  file: NonNullable<MachineRecord['config']['files']>[number],
  secrets: Record<string, string>,
) {
  if (file.raw_value !== undefined) return file.raw_value;
  if (file.secret_name === undefined) return '';
  const value = secrets[file.secret_name];
  if (value === undefined) {
    throw new NearbyError(
      'SECRET_NOT_FOUND',
      `file ${file.guest_path}: secret '${file.secret_name}' is not set`,
      {
        status: 422,
        hint: `set it with \`nearby secrets set ${file.secret_name}=<base64>\``,
      },
    );
  }
  return value;
}

function toStatusExit(exit: ExitInfo): NonNullable<MachineStatus['exit']> {
  return {
    exit_code: exit.exitCode,
    signal: exit.signal,
    oom_killed: exit.oomKilled,
    at: exit.at.toISOString(),
  };
}

function describeExit(exit: ExitInfo): string {
  if (exit.oomKilled) return 'was killed: out of memory (raise guest.memory_mb)';
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.exitCode}`;
}
