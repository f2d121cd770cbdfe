/**
 * Level-triggered sync: compare the wanted routes with what HAProxy reports and apply the
 * difference through the Runtime API. A changed structure (backends, frontends, check rules)
 * needs a reload; servers, map entries and certificates never do. `planSync` is pure;
 * `Reconciler` runs it, coalescing bursts of changes. A change to some apps only is an
 * incremental pass over their backends; a full pass over everything runs after reloads, errors,
 * adoption and every `fullPassEveryMs`, so correctness never rests on the incremental one.
 */
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { markStartStep } from '../start-steps.ts';
import { ACTIVATOR_SERVER } from './activator.ts';
import type { ProxyPaths } from './haproxy-config.ts';
import { changedApps, mergeRoutes, sameStructure, scopeRoutes } from './route-scope.ts';
import type { RouteTable, WantedCert, WantedServer } from './routes.ts';
import type { RuntimeApi, ServerState } from './runtime-api.ts';
import { slotIndex } from './slots.ts';
import { certHash, deleteCertAtRuntime, putCertAtRuntime, writeCertFiles } from './tls.ts';

export interface ActualState {
  backends: string[];
  servers: ServerState[];
  hosts: Map<string, string>;
  /** What each slot was last given, by `backend/slot` (HAProxy cannot report the machine or maxconn). */
  applied?: ReadonlyMap<string, AppliedSlot>;
  /** Current sessions by `backend/slot` (`show stat`), for slots being freed. */
  sessions?: ReadonlyMap<string, number>;
  /** Certificates loaded, by host name → content hash. */
  certs?: ReadonlyMap<string, string>;
  /** The rendered configuration's structure differs from the wanted one. */
  structureChanged?: boolean;
}

/** A slot's machine and the limits set on it. */
export interface AppliedSlot {
  machine: string;
  maxconn: number;
  weight: number;
}

export type SyncOp =
  | {
      kind: 'point';
      backend: string;
      slot: string;
      server: WantedServer;
      inMaintenance: boolean;
    }
  | { kind: 'set-address'; backend: string; slot: string; server: WantedServer }
  | { kind: 'set-limits'; backend: string; slot: string; maxconn: number; weight: number }
  | { kind: 'ready'; backend: string; slot: string }
  | { kind: 'activator'; backend: string; enabled: boolean }
  | { kind: 'free'; backend: string; slot: string; inMaintenance: boolean; idle: boolean; cleared: boolean }
  | { kind: 'set-host'; host: string; backend: string; exists: boolean }
  | { kind: 'delete-host'; host: string }
  | { kind: 'put-cert'; cert: WantedCert; isNew: boolean }
  | { kind: 'delete-cert'; hostname: string };

export interface SyncPlan {
  /** The set of app backends differs: render and reload before anything else. */
  reload: boolean;
  ops: SyncOp[];
}

const isAppBackend = (name: string) => name.startsWith('app_');
/** Forced maintenance or drain: `set server … state ready` clears them. */
const FORCED_OUT = 0x01 | 0x08;
export const NO_ADDRESS = '0.0.0.0';

/** A machine's limits from its server options: `maxconn` 0 is unlimited, `weight` 1 HAProxy's default. */
export function slotLimits(server: WantedServer): { maxconn: number; weight: number } {
  const value = (keyword: string) =>
    Number(server.options.find((option) => option.startsWith(`${keyword} `))?.split(' ')[1]);
  const maxconn = value('maxconn');
  const weight = value('weight');
  return { maxconn: Number.isInteger(maxconn) ? maxconn : 0, weight: Number.isInteger(weight) ? weight : 1 };
}

export function planSync(wanted: RouteTable, actual: ActualState): SyncPlan {
  const wantedNames = wanted.backends.map((backend) => backend.name);
  const actualNames = new Set(actual.backends.filter(isAppBackend));
  const reload =
    actual.structureChanged === true ||
    wantedNames.length !== actualNames.size ||
    wantedNames.some((name) => !actualNames.has(name));
  const ops: SyncOp[] = [];
  const removals: SyncOp[] = [];
  // By backend first: scanning every server for every backend cost 70 ms a pass with 1,000 apps.
  const serversByBackend = new Map<string, ServerState[]>();
  for (const server of actual.servers) {
    const list = serversByBackend.get(server.backend);
    if (list === undefined) serversByBackend.set(server.backend, [server]);
    else list.push(server);
  }
  for (const backend of wanted.backends) {
    if (!actualNames.has(backend.name)) continue;
    const bySlot = new Map(backend.servers.map((server) => [server.slot, server]));
    for (const current of serversByBackend.get(backend.name) ?? []) {
      if (current.name === ACTIVATOR_SERVER && backend.backup !== undefined) {
        const enabled = (current.adminState & 0x01) === 0;
        if (enabled !== backend.backup.enabled) {
          ops.push({ kind: 'activator', backend: backend.name, enabled: backend.backup.enabled });
        }
        continue;
      }
      if (slotIndex(current.name) === undefined) continue;
      const slot = current.name;
      const key = `${backend.name}/${slot}`;
      const applied = actual.applied?.get(key);
      const inMaintenance = (current.adminState & 0x01) !== 0;
      const server = bySlot.get(slot);
      if (server === undefined) {
        const cleared = current.address === NO_ADDRESS && applied === undefined;
        if (!inMaintenance || !cleared) {
          const idle = (actual.sessions?.get(key) ?? 0) === 0;
          removals.push({ kind: 'free', backend: backend.name, slot, inMaintenance, idle, cleared });
        }
        continue;
      }
      if (applied?.machine !== server.name) {
        ops.push({ kind: 'point', backend: backend.name, slot, server, inMaintenance });
        continue;
      }
      if (current.address !== server.address || current.port !== server.port) {
        ops.push({ kind: 'set-address', backend: backend.name, slot, server });
      }
      const limits = slotLimits(server);
      if (applied.maxconn !== limits.maxconn || applied.weight !== limits.weight) {
        ops.push({ kind: 'set-limits', backend: backend.name, slot, ...limits });
      }
      if ((current.adminState & FORCED_OUT) !== 0) ops.push({ kind: 'ready', backend: backend.name, slot });
    }
  }
  for (const [host, backend] of wanted.hosts) {
    const current = actual.hosts.get(host);
    if (current !== backend) ops.push({ kind: 'set-host', host, backend, exists: current !== undefined });
  }
  for (const host of actual.hosts.keys()) {
    if (!wanted.hosts.has(host)) removals.push({ kind: 'delete-host', host });
  }
  if (actual.certs !== undefined) {
    for (const cert of wanted.certs) {
      const hash = actual.certs.get(cert.hostname);
      if (hash !== certHash(cert)) ops.push({ kind: 'put-cert', cert, isNew: hash === undefined });
    }
    const wantedCerts = new Set(wanted.certs.map((cert) => cert.hostname));
    for (const hostname of actual.certs.keys()) {
      if (!wantedCerts.has(hostname)) removals.push({ kind: 'delete-cert', hostname });
    }
  }
  // New capacity first, so an app moving to other machines never has none.
  return { reload, ops: [...ops, ...removals] };
}

export interface ReconcilerOptions {
  api: RuntimeApi;
  paths: ProxyPaths;
  hostsMap: string;
  /** Slot → machine id, for the access log: set when a slot takes a machine. */
  slotsMap: string;
  log: pino.Logger;
  /** The routes wanted now (from the store). */
  wanted: () => RouteTable;
  /**
   * The routes of these apps alone (their backends, frontends and host names), for incremental
   * passes; without it every pass is full.
   */
  wantedApps?: (apps: ReadonlySet<string>) => RouteTable;
  /** The safety net: a full pass at least this often; default `FULL_PASS_EVERY_MS`. */
  fullPassEveryMs?: number;
  /** Told after each pass that ran: which kind, and how long it took. */
  onPass?: (kind: PassKind, ms: number) => void;
  /** Whether these routes need a different configuration than the one HAProxy runs. */
  structureChanged: (routes: RouteTable) => boolean;
  /** Writes the configuration for these routes and reloads HAProxy; resolves when the new worker serves. */
  reload: (routes: RouteTable) => Promise<void>;
  /** Whether a worker is up to talk to. */
  isRunning: () => boolean;
  /** A slot's last requests are done and its address cleared: it may take another machine. */
  slotFreed: (backend: string, slot: string) => void;
}

export type PassKind = 'full' | 'incremental';

const COALESCE_MS = 5;
/** A full pass costs 100–300 ms with 5,000 machines (docs/perf.md): often enough to heal, rare enough to be cheap. */
export const FULL_PASS_EVERY_MS = 30_000;
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
  /** When `#timer` fires. */
  #timerAt = 0;
  #stopped = false;
  #waiters: { generation: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  #drainingSince = new Map<string, number>();
  #stopError: unknown;
  #applied = new Map<string, AppliedSlot>();
  /** Slots with an entry in the slots map. */
  #mapped = new Set<string>();
  #certs = new Map<string, string>();
  /** `backend/server` → when its health checks start counting (after the grace period). */
  #healthDue = new Map<string, { backend: string; server: string; at: number }>();
  /** The next pass is a full one (a kick without apps, a reload, an error, the periodic timer). */
  #fullDue = true;
  /** Every app's routes may have changed (peers): recompute them all, apply only those that differ. */
  #recomputeDue = false;
  /** Apps changed since the last pass started, for an incremental pass. */
  #dirtyApps = new Set<string>();
  /** The routes HAProxy's configuration was rendered from, with every pass's servers since. */
  #base: RouteTable | undefined;
  #fullTimer: NodeJS.Timeout;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    this.#fullTimer = setInterval(() => this.kick(), options.fullPassEveryMs ?? FULL_PASS_EVERY_MS);
    this.#fullTimer.unref();
  }

  /** HAProxy was given a configuration rendered from `routes` (start, restart or reload). */
  rendered(routes: RouteTable) {
    this.#fullDue = true;
    this.#base = undefined;
    this.#applied = new Map(
      routes.backends.flatMap((backend) =>
        backend.servers
          .filter((server) => server.slot !== undefined)
          .map(
            (server) =>
              [`${backend.name}/${server.slot}`, { machine: server.name, ...slotLimits(server) }] as const,
          ),
      ),
    );
    this.#certs = new Map(routes.certs.map((cert) => [cert.hostname, certHash(cert)]));
    this.#mapped = new Set(
      routes.backends.flatMap((backend) => backend.servers.map((server) => server.slot ?? '')),
    );
    this.#healthDue.clear();
  }

  /**
   * A running HAProxy was adopted (nearby restarted): what each slot holds comes from its slots
   * map; the limits set on them are unknown, so the next pass sets them again; certificates are
   * the ones on disk (written before each was loaded).
   */
  adopted(machineOfSlot: ReadonlyMap<string, string>, certs: ReadonlyMap<string, string>) {
    this.#fullDue = true;
    this.#base = undefined;
    this.#applied = new Map();
    for (const [slot, machine] of machineOfSlot) {
      const backend = slot.slice(0, slot.lastIndexOf('.'));
      if (slotIndex(slot) !== undefined)
        this.#applied.set(`${backend}/${slot}`, { machine, maxconn: -1, weight: -1 });
    }
    this.#mapped = new Set(machineOfSlot.keys());
    this.#certs = new Map(certs);
    this.#healthDue.clear();
  }

  /** Something changed: schedule a full pass. Returns the generation that pass will cover. */
  kick(delayMs = COALESCE_MS): number {
    this.#fullDue = true;
    this.#generation++;
    this.#schedule(delayMs);
    return this.#generation;
  }

  /**
   * Something every app's routes depend on changed (the live peers, the region order): the next
   * pass computes all routes again but reads and applies only the backends whose servers differ.
   */
  kickRoutes(delayMs = COALESCE_MS): number {
    this.#recomputeDue = true;
    this.#generation++;
    this.#schedule(delayMs);
    return this.#generation;
  }

  /** Records of these apps changed: schedule a pass over their backends (or a full one). */
  kickApps(apps: Iterable<string>, delayMs = COALESCE_MS): number {
    for (const app of apps) this.#dirtyApps.add(app);
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
    clearInterval(this.#fullTimer);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(reason);
  }

  #schedule(delayMs: number) {
    if (this.#stopped || this.#running) return;
    const at = Date.now() + delayMs;
    // A change must not wait behind a retry timer (slots draining): bring the pass forward.
    if (this.#timer !== undefined && this.#timerAt <= at) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#run();
    }, delayMs);
  }

  async #run() {
    if (this.#stopped || !this.#options.isRunning()) return;
    this.#running = true;
    const generation = this.#generation;
    const base = this.#base;
    const full = this.#fullDue || base === undefined || this.#options.wantedApps === undefined;
    const apps = this.#dirtyApps;
    const recompute = this.#recomputeDue;
    this.#recomputeDue = false;
    this.#fullDue = false;
    this.#dirtyApps = new Set();
    let complete = false;
    let draining = false;
    const started = performance.now();
    let kind: PassKind = full ? 'full' : 'incremental';
    try {
      if (full || base === undefined) ({ complete, draining } = await this.#pass());
      else if (recompute) ({ complete, draining, kind } = await this.#recomputePass(base, apps));
      else ({ complete, draining, kind } = await this.#incrementalPass(base, apps));
    } catch (error) {
      this.#options.log.warn({ err: errorMessage(error) }, 'proxy sync failed; retrying');
    } finally {
      this.#running = false;
    }
    // Whatever failed is found again by a full pass: nothing rests on what the last one missed.
    if (!complete) this.#fullDue = true;
    // Slots still draining are looked at again by the retry, whatever kind it is.
    for (const key of this.#drainingSince.keys()) {
      const backend = key.slice(0, key.indexOf('/'));
      const app = this.#base?.backends.find((candidate) => candidate.name === backend)?.app;
      if (app === undefined) this.#fullDue = true;
      else this.#dirtyApps.add(app);
    }
    this.#options.onPass?.(kind, performance.now() - started);
    if (complete) {
      this.#appliedGeneration = Math.max(this.#appliedGeneration, generation);
      const ready = this.#waiters.filter((waiter) => waiter.generation <= this.#appliedGeneration);
      this.#waiters = this.#waiters.filter((waiter) => waiter.generation > this.#appliedGeneration);
      for (const waiter of ready) waiter.resolve();
    }
    if (this.#generation > generation) this.#schedule(COALESCE_MS);
    else if (!complete || draining) this.#schedule(RETRY_MS);
  }

  /** `wanted`: the routes of this pass (computing them again costs ~50 ms with 5,000 machines). */
  async #actual(wanted: RouteTable): Promise<ActualState> {
    const { api, hostsMap } = this.#options;
    const [backends, servers, hosts] = await Promise.all([
      api.backends(),
      api.servers(),
      api.showMap(hostsMap),
    ]);
    return {
      backends,
      servers,
      hosts,
      applied: this.#applied,
      certs: this.#certs,
      structureChanged: this.#options.structureChanged(wanted),
    };
  }

  /**
   * One pass. `complete`: HAProxy routes as wanted (machines being drained are out of rotation
   * already, so they count as done); `draining`: some are still to be deleted.
   */
  async #pass(wanted = this.#options.wanted()): Promise<{ complete: boolean; draining: boolean }> {
    let plan = planSync(wanted, await this.#actual(wanted));
    if (plan.reload) {
      // `reload` renders the configuration and calls `rendered`.
      await this.#options.reload(wanted);
      plan = planSync(wanted, await this.#actual(wanted));
    }
    // HAProxy runs the structure of these routes: incremental passes may build on them.
    if (!plan.reload) this.#base = wanted;
    const result = await this.#applyPlan(plan, wanted);
    return { complete: result.complete && !plan.reload, draining: result.draining };
  }

  /**
   * A pass over the backends of `apps` only: their routes, and HAProxy's state of those backends
   * alone. Falls back to a full pass when the structure would change (a new or removed backend, a
   * larger slot pool, other check rules or frontends).
   */
  async #incrementalPass(
    base: RouteTable,
    apps: ReadonlySet<string>,
    partial = this.#options.wantedApps?.(apps),
  ): Promise<{ complete: boolean; draining: boolean; kind: PassKind }> {
    if (partial === undefined || !sameStructure(base, partial, apps)) {
      return { ...(await this.#pass()), kind: 'full' };
    }
    const { api } = this.#options;
    const names = partial.backends.map((backend) => backend.name);
    // A backend HAProxy does not have makes these throw: the pass fails and a full one follows.
    const servers = await Promise.all(names.map((name) => api.servers(name)));
    // Host names and certificates are the full pass's: a change to them kicks one.
    const scoped: RouteTable = { ...partial, hosts: new Map(), certs: [] };
    const plan = planSync(scoped, {
      backends: names,
      servers: servers.flat(),
      hosts: new Map(),
      applied: this.#applied,
    });
    this.#base = mergeRoutes(base, partial);
    return { ...(await this.#applyPlan(plan, scoped, new Set(names))), kind: 'incremental' };
  }

  /**
   * Every app's routes computed again (~15 ms with 5,000 machines), HAProxy read and changed for
   * the apps whose servers differ from the last pass's (and `apps`) only.
   */
  async #recomputePass(
    base: RouteTable,
    apps: ReadonlySet<string>,
  ): Promise<{ complete: boolean; draining: boolean; kind: PassKind }> {
    const wanted = this.#options.wanted();
    const changed = changedApps(base, wanted);
    if (changed === undefined) return { ...(await this.#pass(wanted)), kind: 'full' };
    for (const app of apps) changed.add(app);
    return this.#incrementalPass(base, changed, scopeRoutes(wanted, changed));
  }

  /** Applies a plan's steps; `backends`: the ones the plan covers (all when not given). */
  async #applyPlan(
    plan: SyncPlan,
    wanted: RouteTable,
    backends?: ReadonlySet<string>,
  ): Promise<{ complete: boolean; draining: boolean }> {
    let complete = true;
    let draining = false;
    await this.#countSessions(plan);
    if (plan.ops.some((op) => op.kind === 'put-cert' || op.kind === 'delete-cert')) {
      // Files first, so a reload or restart loads the same certificates.
      await writeCertFiles(this.#options.paths, wanted.certs);
    }
    const removing = new Set<string>();
    for (const op of plan.ops) {
      try {
        if (op.kind === 'free') {
          removing.add(`${op.backend}/${op.slot}`);
          draining = (await this.#free(op)) || draining;
        } else {
          await this.#apply(op);
        }
      } catch (error) {
        complete = false;
        this.#options.log.debug({ op, err: errorMessage(error) }, 'proxy sync step not applied yet');
      }
    }
    for (const key of this.#drainingSince.keys()) {
      const inScope = backends === undefined || backends.has(key.slice(0, key.indexOf('/')));
      if (inScope && !removing.has(key)) this.#drainingSince.delete(key);
    }
    const healthPending = await this.#enableDueHealthChecks();
    return { complete, draining: draining || healthPending };
  }

  async #apply(op: Exclude<SyncOp, { kind: 'free' }>): Promise<void> {
    const { api, hostsMap, log } = this.#options;
    switch (op.kind) {
      case 'point': {
        // A slot takes a machine: address and limits while out of rotation, then ready.
        const key = `${op.backend}/${op.slot}`;
        const limits = slotLimits(op.server);
        if (!op.inMaintenance) await api.setServerState(op.backend, op.slot, 'maint');
        this.#applied.delete(key);
        const checked = op.server.options.includes('check');
        // Out of rotation, the settings are independent: sent at once, each on its own connection
        // (one after the other they were most of an incremental pass on a loaded host).
        await Promise.all([
          api.setServerAddress(op.backend, op.slot, op.server.address, op.server.port),
          api.setServerMaxconn(op.backend, op.slot, limits.maxconn),
          api.setServerWeight(op.backend, op.slot, limits.weight),
          // Checks count once the grace period is over (enableDueHealthChecks). A far twin's slots
          // have none: the machine's own proxy checks it, and its agent reports it.
          checked && op.server.healthGraceMs !== undefined
            ? api.disableHealth(op.backend, op.slot)
            : checked
              ? api.enableHealth(op.backend, op.slot)
              : undefined,
          this.#mapSlot(op.slot, op.server.name),
        ]);
        await api.setServerState(op.backend, op.slot, 'ready');
        this.#applied.set(key, { machine: op.server.name, ...limits });
        if (checked && op.server.healthGraceMs !== undefined) {
          this.#healthDue.set(key, {
            backend: op.backend,
            server: op.slot,
            at: Date.now() + op.server.healthGraceMs,
          });
        }
        markStartStep(op.server.name, 'proxy-in-rotation');
        log.info(
          { backend: op.backend, machine: op.server.name, slot: op.slot, address: op.server.address },
          'machine in rotation',
        );
        return;
      }
      case 'set-address':
        await api.setServerAddress(op.backend, op.slot, op.server.address, op.server.port);
        return;
      case 'set-limits': {
        const key = `${op.backend}/${op.slot}`;
        await api.setServerMaxconn(op.backend, op.slot, op.maxconn);
        await api.setServerWeight(op.backend, op.slot, op.weight);
        const applied = this.#applied.get(key);
        if (applied !== undefined)
          this.#applied.set(key, { ...applied, maxconn: op.maxconn, weight: op.weight });
        return;
      }
      case 'ready':
        await api.setServerState(op.backend, op.slot, 'ready');
        return;
      case 'activator':
        await api.setServerState(op.backend, ACTIVATOR_SERVER, op.enabled ? 'ready' : 'maint');
        return;
      case 'set-host':
        if (op.exists) await api.setMap(hostsMap, op.host, op.backend);
        else await api.addMap(hostsMap, op.host, op.backend);
        return;
      case 'delete-host':
        await api.deleteMap(hostsMap, op.host);
        return;
      case 'put-cert':
        await putCertAtRuntime(api, this.#options.paths, op.cert, op.isNew);
        this.#certs.set(op.cert.hostname, certHash(op.cert));
        log.info({ hostname: op.cert.hostname }, op.isNew ? 'certificate loaded' : 'certificate replaced');
        return;
      case 'delete-cert':
        await deleteCertAtRuntime(api, this.#options.paths, op.hostname);
        this.#certs.delete(op.hostname);
        log.info({ hostname: op.hostname }, 'certificate removed');
        return;
    }
  }

  /**
   * Whether the slots being freed still serve requests: `show stat` of their backends only (all
   * 8,000+ slots' statistics were the largest part of a full pass with 5,000 machines).
   */
  async #countSessions(plan: SyncPlan): Promise<void> {
    const frees = plan.ops.filter(
      (op): op is Extract<SyncOp, { kind: 'free' }> => op.kind === 'free' && !op.cleared,
    );
    const backends = [...new Set(frees.map((op) => op.backend))];
    const sessions = await Promise.all(backends.map((backend) => this.#options.api.serverSessions(backend)));
    const byBackend = new Map(backends.map((backend, index) => [backend, sessions[index]]));
    for (const op of frees) op.idle = (byBackend.get(op.backend)?.get(`${op.backend}/${op.slot}`) ?? 0) === 0;
  }

  /** The access log names the slot's machine from now on. */
  async #mapSlot(slot: string, machine: string): Promise<void> {
    const { api, slotsMap } = this.#options;
    if (this.#mapped.has(slot)) await api.setMap(slotsMap, slot, machine);
    else await api.addMap(slotsMap, slot, machine);
    this.#mapped.add(slot);
  }

  /** Turns on the checks of servers whose grace period is over. Returns true while some wait. */
  async #enableDueHealthChecks(): Promise<boolean> {
    const now = Date.now();
    for (const [key, due] of this.#healthDue) {
      if (due.at > now) continue;
      try {
        await this.#options.api.enableHealth(due.backend, due.server);
      } catch (error) {
        this.#options.log.debug({ key, err: errorMessage(error) }, 'health checks not enabled');
      }
      this.#healthDue.delete(key);
    }
    return this.#healthDue.size > 0;
  }

  /**
   * A machine left its slot: out of rotation at once; its address cleared (and the slot free for
   * another machine) when its last request is done, cut after a while. True while it drains.
   */
  async #free(op: Extract<SyncOp, { kind: 'free' }>): Promise<boolean> {
    const { api, log } = this.#options;
    const key = `${op.backend}/${op.slot}`;
    if (!op.inMaintenance) {
      await api.setServerState(op.backend, op.slot, 'maint');
      log.info(
        { backend: op.backend, slot: op.slot, machine: this.#applied.get(key)?.machine },
        'machine out of rotation',
      );
    }
    this.#healthDue.delete(key);
    if (!op.idle && !op.cleared) {
      if (!this.#drainingSince.has(key)) this.#drainingSince.set(key, Date.now());
      if (Date.now() - (this.#drainingSince.get(key) ?? 0) <= DRAIN_LIMIT_MS) return true;
      await api.shutdownSessions(op.backend, op.slot);
    }
    const unmap = async () => {
      if (!this.#mapped.has(op.slot)) return;
      await api.deleteMap(this.#options.slotsMap, op.slot);
      this.#mapped.delete(op.slot);
    };
    await Promise.all([api.setServerAddress(op.backend, op.slot, NO_ADDRESS, 80), unmap()]);
    this.#drainingSince.delete(key);
    this.#applied.delete(key);
    this.#options.slotFreed(op.backend, op.slot);
    return false;
  }
}
