/**
 * Level-triggered sync: compare the wanted routes with what HAProxy reports and apply the
 * difference through the Runtime API. A changed structure (backends, frontends, check rules)
 * needs a reload; servers, map entries and certificates never do. `planSync` is pure;
 * `Reconciler` runs it, coalescing bursts of changes.
 */
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { ProxyPaths } from './haproxy-config.ts';
import type { RouteTable, WantedCert, WantedServer } from './routes.ts';
import { OUT_OF_ROTATION, type RuntimeApi, type ServerState } from './runtime-api.ts';
import { certHash, deleteCertAtRuntime, putCertAtRuntime, writeCertFiles } from './tls.ts';

export interface ActualState {
  backends: string[];
  servers: ServerState[];
  hosts: Map<string, string>;
  /** Server options as last given to HAProxy, by `backend/server` (HAProxy cannot report them). */
  serverOptions?: ReadonlyMap<string, string>;
  /** Certificates loaded, by host name → content hash. */
  certs?: ReadonlyMap<string, string>;
  /** The rendered configuration's structure differs from the wanted one. */
  structureChanged?: boolean;
}

export type SyncOp =
  | { kind: 'add-server'; backend: string; server: WantedServer }
  | { kind: 'set-address'; backend: string; server: WantedServer }
  | { kind: 'ready'; backend: string; server: string }
  | { kind: 'remove-server'; backend: string; server: string; inMaintenance: boolean }
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

export function planSync(wanted: RouteTable, actual: ActualState): SyncPlan {
  const wantedNames = wanted.backends.map((backend) => backend.name);
  const actualNames = new Set(actual.backends.filter(isAppBackend));
  const reload =
    actual.structureChanged === true ||
    wantedNames.length !== actualNames.size ||
    wantedNames.some((name) => !actualNames.has(name));
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
      const appliedOptions = actual.serverOptions?.get(`${backend.name}/${server.name}`);
      // Options cannot change on a live server: drain it, then add it again with the new ones.
      if (
        current !== undefined &&
        appliedOptions !== undefined &&
        appliedOptions !== server.options.join(' ')
      ) {
        continue;
      }
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
  log: pino.Logger;
  /** The routes wanted now (from the store). */
  wanted: () => RouteTable;
  /** Whether these routes need a different configuration than the one HAProxy runs. */
  structureChanged: (routes: RouteTable) => boolean;
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
  #serverOptions = new Map<string, string>();
  #certs = new Map<string, string>();
  /** `backend/server` → when its health checks start counting (after the grace period). */
  #healthDue = new Map<string, { backend: string; server: string; at: number }>();

  constructor(options: ReconcilerOptions) {
    this.#options = options;
  }

  /** HAProxy was given a configuration rendered from `routes` (start, restart or reload). */
  rendered(routes: RouteTable) {
    this.#serverOptions = new Map(
      routes.backends.flatMap((backend) =>
        backend.servers.map(
          (server) => [`${backend.name}/${server.name}`, server.options.join(' ')] as const,
        ),
      ),
    );
    this.#certs = new Map(routes.certs.map((cert) => [cert.hostname, certHash(cert)]));
    this.#healthDue.clear();
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
    return {
      backends,
      servers,
      hosts,
      serverOptions: this.#serverOptions,
      certs: this.#certs,
      structureChanged: this.#options.structureChanged(this.#options.wanted()),
    };
  }

  /**
   * One pass. `complete`: HAProxy routes as wanted (machines being drained are out of rotation
   * already, so they count as done); `draining`: some are still to be deleted.
   */
  async #pass(): Promise<{ complete: boolean; draining: boolean }> {
    const wanted = this.#options.wanted();
    let plan = planSync(wanted, await this.#actual());
    if (plan.reload) {
      // `reload` renders the configuration and calls `rendered`.
      await this.#options.reload(wanted);
      plan = planSync(wanted, await this.#actual());
    }
    let complete = !plan.reload;
    let draining = false;
    if (plan.ops.some((op) => op.kind === 'put-cert' || op.kind === 'delete-cert')) {
      // Files first, so a reload or restart loads the same certificates.
      await writeCertFiles(this.#options.paths, wanted.certs);
    }
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
    const healthPending = await this.#enableDueHealthChecks();
    return { complete, draining: draining || healthPending };
  }

  async #apply(op: Exclude<SyncOp, { kind: 'remove-server' }>): Promise<void> {
    const { api, hostsMap, log } = this.#options;
    switch (op.kind) {
      case 'add-server': {
        const key = `${op.backend}/${op.server.name}`;
        await api.addServer(op.backend, op.server.name, op.server.address, op.server.port, op.server.options);
        this.#serverOptions.set(key, op.server.options.join(' '));
        await api.setServerState(op.backend, op.server.name, 'ready');
        if (op.server.healthGraceMs !== undefined) {
          this.#healthDue.set(key, {
            backend: op.backend,
            server: op.server.name,
            at: Date.now() + op.server.healthGraceMs,
          });
        }
        log.info(
          { backend: op.backend, server: op.server.name, address: op.server.address },
          'machine in rotation',
        );
        return;
      }
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
    this.#serverOptions.delete(key);
    this.#healthDue.delete(key);
    return false;
  }
}
