/**
 * Level-triggered sync: compare the wanted routes with what HAProxy reports and apply the
 * difference through the Runtime API. A changed set of backends needs a reload; servers and
 * map entries never do. `planSync` is pure; `Reconciler` runs it, coalescing bursts of changes.
 */
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { RouteTable, WantedServer } from './routes.ts';
import { OUT_OF_ROTATION, type RuntimeApi, type ServerState } from './runtime-api.ts';

export interface ActualState {
  backends: string[];
  servers: ServerState[];
  hosts: Map<string, string>;
}

export type SyncOp =
  | { kind: 'add-server'; backend: string; server: WantedServer }
  | { kind: 'set-address'; backend: string; server: WantedServer }
  | { kind: 'ready'; backend: string; server: string }
  | { kind: 'remove-server'; backend: string; server: string; inMaintenance: boolean }
  | { kind: 'set-host'; host: string; backend: string; exists: boolean }
  | { kind: 'delete-host'; host: string };

export interface SyncPlan {
  /** The set of app backends differs: render and reload before anything else. */
  reload: boolean;
  ops: SyncOp[];
}

const isAppBackend = (name: string) => name.startsWith('app_');

export function planSync(wanted: RouteTable, actual: ActualState): SyncPlan {
  const wantedNames = wanted.backends.map((backend) => backend.name);
  const actualNames = new Set(actual.backends.filter(isAppBackend));
  const reload =
    wantedNames.length !== actualNames.size || wantedNames.some((name) => !actualNames.has(name));
  const ops: SyncOp[] = [];
  const removals: SyncOp[] = [];
  for (const backend of wanted.backends) {
    if (!actualNames.has(backend.name)) continue;
    const present = new Map(
      actual.servers
        .filter((server) => server.backend === backend.name)
        .map((server) => [server.name, server]),
    );
    for (const server of backend.servers) {
      const current = present.get(server.name);
      present.delete(server.name);
      if (current === undefined) {
        ops.push({ kind: 'add-server', backend: backend.name, server });
        continue;
      }
      if (current.address !== server.address || current.port !== server.port) {
        ops.push({ kind: 'set-address', backend: backend.name, server });
      }
      if ((current.adminState & OUT_OF_ROTATION) !== 0) {
        ops.push({ kind: 'ready', backend: backend.name, server: server.name });
      }
    }
    for (const stale of present.values()) {
      const inMaintenance = (stale.adminState & 0x01) !== 0;
      removals.push({ kind: 'remove-server', backend: backend.name, server: stale.name, inMaintenance });
    }
  }
  for (const [host, backend] of wanted.hosts) {
    const current = actual.hosts.get(host);
    if (current !== backend) ops.push({ kind: 'set-host', host, backend, exists: current !== undefined });
  }
  for (const host of actual.hosts.keys()) {
    if (!wanted.hosts.has(host)) removals.push({ kind: 'delete-host', host });
  }
  // New capacity first, so an app moving to other machines never has none.
  return { reload, ops: [...ops, ...removals] };
}

export interface ReconcilerOptions {
  api: RuntimeApi;
  hostsMap: string;
  log: pino.Logger;
  /** The routes wanted now (from the store). */
  wanted: () => RouteTable;
  /** Writes the configuration for these routes and reloads HAProxy; resolves when the new worker serves. */
  reload: (routes: RouteTable) => Promise<void>;
  /** Whether a worker is up to talk to. */
  isRunning: () => boolean;
}

const COALESCE_MS = 5;
const RETRY_MS = 500;
/** A removed machine's requests get this long to finish before they are cut. */
const DRAIN_LIMIT_MS = 30_000;

/** Runs passes one at a time; every `kick` guarantees one more pass starting after it. */
export class Reconciler {
  #options: ReconcilerOptions;
  #generation = 0;
  #appliedGeneration = 0;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #waiters: { generation: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #drainingSince = new Map<string, number>();
  #stopError: unknown;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
  }

  /** Something changed: schedule a pass. Returns the generation that pass will cover. */
  kick(delayMs = COALESCE_MS): number {
    this.#generation++;
    this.#schedule(delayMs);
    return this.#generation;
  }

  /** Resolves once a pass that started after generation `generation` succeeded completely. */
  settled(generation = this.#generation): Promise<void> {
    if (this.#appliedGeneration >= generation) return Promise.resolve();
    if (this.#stopped) return Promise.reject(this.#stopError);
    return new Promise((resolve, reject) => this.#waiters.push({ generation, resolve, reject }));
  }

  /** No more passes; whoever waits for one is told why. */
  stop(reason: unknown) {
    this.#stopped = true;
    this.#stopError = reason;
    clearTimeout(this.#timer);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(reason);
  }

  #schedule(delayMs: number) {
    if (this.#stopped || this.#running || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#run();
    }, delayMs);
  }

  async #run() {
    if (this.#stopped || !this.#options.isRunning()) return;
    this.#running = true;
    const generation = this.#generation;
    let complete = false;
    let draining = false;
    try {
      ({ complete, draining } = await this.#pass());
    } catch (error) {
      this.#options.log.warn({ err: errorMessage(error) }, 'proxy sync failed; retrying');
    } finally {
      this.#running = false;
    }
    if (complete) {
      this.#appliedGeneration = Math.max(this.#appliedGeneration, generation);
      const ready = this.#waiters.filter((waiter) => waiter.generation <= this.#appliedGeneration);
      this.#waiters = this.#waiters.filter((waiter) => waiter.generation > this.#appliedGeneration);
      for (const waiter of ready) waiter.resolve();
    }
    if (this.#generation > generation) this.#schedule(COALESCE_MS);
    else if (!complete || draining) this.#schedule(RETRY_MS);
  }

  async #actual(): Promise<ActualState> {
    const { api, hostsMap } = this.#options;
    const [backends, servers, hosts] = await Promise.all([
      api.backends(),
      api.servers(),
      api.showMap(hostsMap),
    ]);
    return { backends, servers, hosts };
  }

  /**
   * One pass. `complete`: HAProxy routes as wanted (machines being drained are out of rotation
   * already, so they count as done); `draining`: some are still to be deleted.
   */
  async #pass(): Promise<{ complete: boolean; draining: boolean }> {
    const wanted = this.#options.wanted();
    let plan = planSync(wanted, await this.#actual());
    if (plan.reload) {
      await this.#options.reload(wanted);
      plan = planSync(wanted, await this.#actual());
    }
    let complete = !plan.reload;
    let draining = false;
    const removing = new Set<string>();
    for (const op of plan.ops) {
      try {
        if (op.kind === 'remove-server') {
          removing.add(`${op.backend}/${op.server}`);
          draining = (await this.#remove(op.backend, op.server, op.inMaintenance)) || draining;
        } else {
          await this.#apply(op);
        }
      } catch (error) {
        complete = false;
        this.#options.log.debug({ op, err: errorMessage(error) }, 'proxy sync step not applied yet');
      }
    }
    for (const key of this.#drainingSince.keys()) if (!removing.has(key)) this.#drainingSince.delete(key);
    return { complete, draining };
  }

  async #apply(op: Exclude<SyncOp, { kind: 'remove-server' }>): Promise<void> {
    const { api, hostsMap, log } = this.#options;
    switch (op.kind) {
      case 'add-server':
        await api.addServer(op.backend, op.server.name, op.server.address, op.server.port);
        await api.setServerState(op.backend, op.server.name, 'ready');
        log.info(
          { backend: op.backend, server: op.server.name, address: op.server.address },
          'machine in rotation',
        );
        return;
      case 'set-address':
        await api.setServerAddress(op.backend, op.server.name, op.server.address, op.server.port);
        return;
      case 'ready':
        await api.setServerState(op.backend, op.server, 'ready');
        return;
      case 'set-host':
        if (op.exists) await api.setMap(hostsMap, op.host, op.backend);
        else await api.addMap(hostsMap, op.host, op.backend);
        return;
      case 'delete-host':
        await api.deleteMap(hostsMap, op.host);
        return;
    }
  }

  /**
   * Out of rotation at once; deleted when its last request is done (cut after a while).
   * Returns true while it still has requests to finish.
   */
  async #remove(backend: string, server: string, inMaintenance: boolean): Promise<boolean> {
    const { api, log } = this.#options;
    const key = `${backend}/${server}`;
    if (!inMaintenance) {
      await api.setServerState(backend, server, 'maint');
      log.info({ backend, server }, 'machine out of rotation');
    }
    if (!this.#drainingSince.has(key)) this.#drainingSince.set(key, Date.now());
    if (Date.now() - (this.#drainingSince.get(key) ?? 0) > DRAIN_LIMIT_MS) {
      await api.shutdownSessions(backend, server);
    }
    try {
      await api.deleteServer(backend, server);
    } catch (error) {
      log.debug({ backend, server, err: errorMessage(error) }, 'machine still draining');
      return true;
    }
    this.#drainingSince.delete(key);
    return false;
  }
}
