/**
 * The edge proxy (DESIGN.md §4): HAProxy moves the bytes; this module watches the store, renders
 * HAProxy's configuration, and keeps it current through the Runtime API, reloading only when
 * the structure (backends, frontends, check rules) changes.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { keys } from '../model/keys.ts';
import type { AppRecord, CertRecord, MachineRecord, MachineStatus } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import type { AccessLogTarget } from './access-log.ts';
import {
  ACTIVATOR_SERVER,
  type Activator,
  defaultWakeTimeoutMs,
  type MachineControl,
  type MachineEntry,
  startActivator,
} from './activator.ts';
import { wakeableApps } from './activator-pick.ts';
import { readAdoptedState, recordStructure, structureHash } from './adopt.ts';
import { type Autostop, autostopDefaults, startAutostop } from './autostop.ts';
import { backhaulAgent } from './backhaul-client.ts';
import type { BackhaulTarget } from './backhaul-config.ts';
import { BudgetLevels, suspendedMapSync } from './budget-levels.ts';
import { writeProxyFiles } from './config-files.ts';
import { demandDefaults, startDemand } from './demand.ts';
import { startEgressMeter } from './egress-meter.ts';
import { invalidProxyOption, proxyStopped, socketPathTooLong } from './errors.ts';
import {
  type ConfigInput,
  defaultLimits,
  type ProxyLimits,
  parseListen,
  proxyPaths,
  structureKey,
} from './haproxy-config.ts';
import { HaproxyProcess } from './haproxy-process.ts';
import { HttpStats } from './http-stats.ts';
import { readListenerPorts, writeListenerPorts } from './listener-ports.ts';
import { type NodeListeners, startNodeListeners } from './metrics-listeners.ts';
import { Peers, type PeerTiming, peerTimingDefaults } from './peers.ts';
import { locate, rankRegions } from './placement.ts';
import { backendName, computeRoutes, type RouteTable, routeHostsToServingBackends } from './routes.ts';
import { RuntimeApi } from './runtime-api.ts';
import { SlotTable } from './slots.ts';
import { type MirrorChange, mirrorCaughtUp, StoreMirror } from './store-mirror.ts';
import { Reconciler } from './sync.ts';
import { WakeTimes } from './wake-times.ts';
import { holdForNearWake } from './warm-or-cold.ts';

export type { MachineControl } from './activator.ts';
export { apiMachineControl } from './api-machine-control.ts';
export { proxyPaths } from './haproxy-config.ts';
export { stopDataDirHaproxy } from './haproxy-pid.ts';
export { RuntimeApi } from './runtime-api.ts';

export interface ProxyOptions {
  store: Store;
  region: string;
  dataDir: string;
  /** `host:port` of the public HTTP frontend (port 80 of apps); default `0.0.0.0:8080`. */
  httpListen?: string;
  /** `host:port` of the public TLS frontend (port 443 of apps); default `0.0.0.0:8443`. */
  tlsListen?: string;
  /** Timeouts and request limits; defaults in `defaultLimits`. */
  limits?: Partial<ProxyLimits>;
  /** On stop, how long requests in flight may take; default 10 s. */
  drainMs?: number;
  /** Apps answer at `<app>.<appsDomain>`; default `localhost`. */
  appsDomain?: string;
  /** Default `/usr/sbin/haproxy`. */
  haproxyBin?: string;
  /** `host:port` for Prometheus `/metrics`, or `off` (the default in library use). */
  metricsListen?: string;
  /** Given: the activator wakes stopped machines for requests and autostop stops idle ones. */
  machineControl?: MachineControl;
  /**
   * Autostop's pass interval, idle threshold and the TTL of `leases/autostop/<region>`; defaults
   * in `autostopDefaults` and the lease module.
   */
  autostop?: { intervalMs?: number; idleMs?: number; leaseTtlMs?: number };
  /** How often demand is published for the autoscaler (demand.ts); default `demandDefaults`. */
  demand?: { intervalMs?: number };
  /** Where HAProxy writes one line per request (access-log.ts); none when not given. */
  accessLog?: AccessLogTarget;
  /** How long the activator holds a request for a waking machine before a 503. */
  wakeTimeoutMs?: number;
  /** Answer ACME TLS-ALPN-01 on the shared TLS port (a TCP front reads ClientHellos first). */
  acmeTlsAlpn?: boolean;
  /**
   * HAProxy goes on serving the last routes when this process stops or dies, and the next start
   * adopts it (`nearby server`: the data plane outlives the control plane). Otherwise `stop()`
   * stops it, and so does this process's exit.
   */
  outliveNearby?: boolean;
  /** This host's name: `proxies/<host>`, `Via: 1.1 <host>`, and which machines are local; default the OS's. */
  host?: string;
  /**
   * In a cluster (docs/proxy.md, "Routing across hosts"): the listener other proxies send requests
   * to, and the credential proxies know each other by. Without it every machine is reached
   * directly (one host).
   */
  backhaul?: BackhaulOptions;
  /**
   * A store change to some apps updates their backends only (an incremental pass); every this
   * often a full pass compares everything anyway. Default 30 s (`FULL_PASS_EVERY_MS`).
   */
  fullSyncEveryMs?: number;
  /** How often the edge's egress is added to its usage records (docs/billing.md); default 10 s. */
  meterIntervalMs?: number;
  /** Named by the caller (`part: 'proxy'`); the proxy names its pieces `component`. */
  log: pino.Logger;
  /** Aborting it stops the proxy. */
  signal?: AbortSignal;
}

export interface BackhaulOptions {
  /** `host:port` of the backhaul listener (`--backhaul-listen`), e.g. the host's WireGuard address. */
  listen: string;
  /** `host:port` other proxies reach it at; default `listen` (required when that is a wildcard). */
  advertise?: string;
  /** PEM: this proxy's certificate and key, issued by the cluster's CA (`--backhaul-cert`). */
  certFile: string;
  /** PEM: the cluster's CA (`--backhaul-ca`); a peer without a certificate it signed is refused. */
  caFile: string;
  /** Heartbeat, staleness and RTT window; defaults in `peerTimingDefaults`. */
  timing?: Partial<PeerTiming>;
}

export interface EdgeProxy {
  /** Resolves when HAProxy serves the current routes. @throws NearbyError HAPROXY_START_FAILED */
  ready: Promise<void>;
  /** Resolves when every store change made so far is applied to HAProxy. */
  synced(): Promise<void>;
  /**
   * Stops the watches and the Node listeners. HAProxy stops accepting, finishes the requests in
   * flight (up to `drainMs`) and exits — unless `outliveNearby`, when it goes on serving.
   */
  stop(): Promise<void>;
}

const defaults = {
  httpListen: '0.0.0.0:8080',
  tlsListen: '0.0.0.0:8443',
  appsDomain: 'localhost',
  haproxyBin: '/usr/sbin/haproxy',
};

/**
 * Starts HAProxy with the routes in the store and keeps it current until `stop()`.
 * @throws NearbyError PROXY_INVALID_OPTION, PROXY_SOCKET_PATH_TOO_LONG (synchronously)
 * @example
 *   const proxy = startProxy({ store, region: 'fra', dataDir, log });
 *   await proxy.ready; // curl -H 'Host: hello.localhost' localhost:8080
 */
export function startProxy(options: ProxyOptions): EdgeProxy {
  const httpListenText = options.httpListen ?? defaults.httpListen;
  const httpListen = parseListen(httpListenText);
  if (httpListen === undefined) throw invalidProxyOption('httpListen', httpListenText, 'host:port');
  const tlsListenText = options.tlsListen ?? defaults.tlsListen;
  const tlsListen = parseListen(tlsListenText);
  if (tlsListen === undefined) throw invalidProxyOption('tlsListen', tlsListenText, 'host:port');
  const limits: ProxyLimits = { ...defaultLimits, ...options.limits };
  const reservedPorts = [httpListen.port, tlsListen.port];
  const appsDomain = (options.appsDomain ?? defaults.appsDomain).toLowerCase();
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(appsDomain)) {
    throw invalidProxyOption('appsDomain', appsDomain, 'a DNS name such as apps.example.com');
  }
  if (!/^[a-z0-9-]{1,32}$/.test(options.region)) {
    throw invalidProxyOption('region', options.region, 'a region code such as fra');
  }
  const paths = proxyPaths(options.dataDir);
  for (const path of [paths.adminSocket, paths.masterSocket, join(paths.dir, 'buffered.sock')]) {
    if (Buffer.byteLength(path) > 100) throw socketPathTooLong(path);
  }
  const bin = options.haproxyBin ?? defaults.haproxyBin;
  const hostShape = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
  // The OS's name only names the proxy in `Via` on one host: an odd one must not stop it.
  const host = options.host ?? (hostShape.test(hostname()) ? hostname() : 'nearby');
  if (!hostShape.test(host)) throw invalidProxyOption('host', host, 'a host name such as fra-1');
  const backhaul = options.backhaul === undefined ? undefined : backhaulSettings(options.backhaul);
  if (backhaul !== undefined) reservedPorts.push(backhaul.target.listen.port);
  // The caller names the part (`part: 'proxy'`); a second `part` would repeat the key in every line.
  const log = options.log.child({ region: options.region });
  const controller = new AbortController();
  const { store } = options;

  const kick = () => reconciler?.kick();
  /** A change to one app's records is an incremental pass over its backends (sync.ts). */
  const kickApp = (app: string | undefined) =>
    app === undefined ? reconciler?.kick() : reconciler?.kickApps([app]);
  const ofApp =
    <T extends { app?: string }>() =>
    (change?: MirrorChange<T>) =>
      kickApp(change?.after?.app ?? change?.before?.app);
  const apps = new StoreMirror<AppRecord>(
    store,
    keys.apps(),
    controller.signal,
    (change) => kickApp(change?.key.slice(keys.apps().length)),
    log,
  );
  const machines = new StoreMirror<MachineRecord>(
    store,
    keys.machines(),
    controller.signal,
    ofApp<MachineRecord>(),
    log,
  );
  const statuses = new StoreMirror<MachineStatus>(
    store,
    keys.machineStatuses(),
    controller.signal,
    ofApp<MachineStatus>(),
    log,
  );
  const certs = new StoreMirror<CertRecord>(store, keys.certs(), controller.signal, kick, log);
  // The spending cap: suspended apps answer 402, shrinking ones stop idle machines at once.
  const budgets = new BudgetLevels(store, controller.signal, () => void syncSuspended(), log);
  const budgetLevel = (app: string) =>
    budgets.level(apps.entries.get(keys.app(app))?.value.org_slug ?? 'personal');
  const mirrors: { prefix: string; revision: number; entries: ReadonlyMap<string, { revision: number }> }[] =
    [apps, machines, statuses, certs, ...budgets.mirrors];
  const peers =
    backhaul === undefined
      ? undefined
      : new Peers({
          store,
          host,
          region: options.region,
          advertise: backhaul.advertise,
          agent: backhaul.agent,
          timing: backhaul.timing,
          signal: controller.signal,
          // Routes of every app may move to other tiers: all computed again, the changed ones applied.
          onChange: () => reconciler?.kickRoutes(),
          log,
        });
  if (peers !== undefined) mirrors.push(peers.mirror);
  /** Where a host's machines are reached from here (placement.ts); every host is local without a cluster. */
  const locateHost = () => {
    if (peers === undefined) return undefined;
    const placement = peers.placement();
    const ranks = placement.ranks ?? rankRegions(placement);
    return (machineHost: string) => locate(placement, machineHost, ranks);
  };
  let skippedBefore = '';

  function wanted(): RouteTable {
    const statusByKey = new Map([...statuses.entries].map(([key, entry]) => [key, entry.value]));
    const where = locateHost();
    const routes = computeRoutes({
      ...(where ? { locate: (record: MachineRecord) => where(record.host) } : {}),
      apps: apps.values(),
      machines: machines.values(),
      statuses: statusByKey,
      appsDomain,
      certs: certs.values(),
      reservedPorts,
    });
    const skipped = routes.skipped.join(', ');
    if (skipped !== '' && skipped !== skippedBefore)
      log.warn({ skipped }, 'records HAProxy cannot serve; left out');
    skippedBefore = skipped;
    if (activator !== undefined) withActivator(routes, activator, machines.values());
    routeHostsToServingBackends(routes);
    slots.assign(routes);
    lastRoutes = routes;
    return routes;
  }

  /** The routes of these apps alone, for an incremental pass (no full scan of 5,000 machines' routes). */
  function wantedApps(names: ReadonlySet<string>): RouteTable {
    const appRecords = [...names].flatMap((name) => {
      const entry = apps.entries.get(keys.app(name));
      return entry === undefined ? [] : [entry.value];
    });
    const records = machines.values().filter((record) => names.has(record.app));
    const statusByKey = new Map<string, MachineStatus>();
    for (const record of records) {
      const key = keys.machineStatus(record.host, record.id);
      const entry = statuses.entries.get(key);
      if (entry !== undefined) statusByKey.set(key, entry.value);
    }
    const where = locateHost();
    const routes = computeRoutes({
      ...(where ? { locate: (record: MachineRecord) => where(record.host) } : {}),
      apps: appRecords,
      machines: records,
      statuses: statusByKey,
      appsDomain,
      certs: certs.values().filter((cert) => cert.app !== undefined && names.has(cert.app)),
      reservedPorts,
    });
    if (activator !== undefined) withActivator(routes, activator, records);
    routeHostsToServingBackends(routes);
    slots.assign(routes, true);
    return routes;
  }

  // Scale to zero (src/proxy/activator.ts, autostop.ts): only with a way to start and stop machines.
  let activator: Activator | undefined;
  /** This proxy's wakes of each app's near machines: the "cold near" side of warm-or-cold.ts. */
  const wakeTimes = new WakeTimes();
  let autostop: Autostop | undefined;
  let egress: ReturnType<typeof startEgressMeter> | undefined;
  let lastRoutes: RouteTable | undefined;
  /** Machines → server slots of each backend (slots.ts). */
  const slots = new SlotTable();
  const httpStats = new HttpStats(new RuntimeApi(paths.adminSocket), options.region);
  /** What HAProxy names (a slot, or the activator) as the machine it stands for. */
  const machineOf = (backend: string, server: string) =>
    server === ACTIVATOR_SERVER ? server : slots.machineOf(backend, server);
  /** The machines whose requests this proxy's HAProxy counts: its own host's (all, on one host). */
  const isLocal = (record: MachineRecord) => backhaul === undefined || record.host === host;
  /** Every machine, on every host, with its status (the activator and the region's autostop). */
  const machineEntries = (): MachineEntry[] =>
    [...machines.values()].map((record) => ({
      record,
      status: statuses.entries.get(keys.machineStatus(record.host, record.id))?.value,
    }));
  /** The activator is the backup server of the HTTP backend of every app it could wake. */
  function withActivator(routes: RouteTable, running: Activator, records: Iterable<MachineRecord>) {
    const wakeable = wakeableApps(records);
    for (const backend of routes.backends) {
      if (backend.mode !== 'http' || backend.name !== backendName(backend.app)) continue;
      backend.backup = { ...running.address, enabled: wakeable.has(backend.app) };
    }
    const where = locateHost();
    if (where === undefined) return;
    const entries = Map.groupBy(machineEntries(), (entry) => entry.record.app);
    const cold = holdForNearWake(routes.backends, {
      machinesOf: (app) => entries.get(app) ?? [],
      locate: (record) => where(record.host),
      wakeMs: (app) => wakeTimes.medianMs(app),
    });
    for (const app of cold)
      log.debug({ app, wake_ms: wakeTimes.medianMs(app) }, 'cold near: holding for a wake');
  }

  let listeners: NodeListeners | undefined;
  const configInput = (routes: RouteTable): ConfigInput => ({
    paths,
    region: options.region,
    appsDomain,
    httpListen,
    tlsListen,
    routes,
    limits,
    acmeResponder: listeners?.acmeResponder,
    acmeTlsAlpn: listeners?.acmeTlsAlpn,
    accessLog: options.accessLog
      ? { ...options.accessLog, region: options.region, slotsMap: paths.slotsMap }
      : undefined,
    metricsSocket: listeners?.metricsSocket,
    replayer: listeners?.replayer,
    via: host,
    backhaul: backhaul?.target,
    suspended: budgets.suspended(apps.values()),
  });
  /** The structure (hash) of the configuration HAProxy runs now; a different one needs a reload. */
  let renderedStructure = '';
  /** The structure of the configuration last written, which HAProxy serves once ready. */
  let writtenStructure = '';
  const writeConfig = async (routes: RouteTable) => {
    const input = configInput(routes);
    await writeProxyFiles(input, bin);
    writtenStructure = structureHash(structureKey(input));
    reconciler.rendered(routes);
    // A new worker has no requests on the slots machines left: they are free again.
    slots.releaseAll();
  };

  const haproxy = new HaproxyProcess({
    bin,
    paths,
    log,
    prepare: () => writeConfig(wanted()),
    drainMs: options.drainMs,
    accessLogFd: options.accessLog?.fd,
    outliveNearby: options.outliveNearby,
    onReady: () => {
      renderedStructure = writtenStructure;
      // An adopting nearby knows from this file whether the running configuration is current.
      recordStructure(paths, renderedStructure).catch((error) =>
        log.warn({ err: errorMessage(error) }, 'could not record the configuration HAProxy runs'),
      );
      reconciler?.kick(0);
    },
  });
  /**
   * Goes on from a HAProxy an earlier nearby left serving: the slot table and what each slot was
   * given, from HAProxy's own state. If the configuration it runs is not the one wanted now
   * (another nearby version, other listeners), the first pass reloads it, hitlessly.
   */
  let adopting = false;
  async function adoptRunning(): Promise<boolean> {
    adopting = true; // no pass until the slot table is HAProxy's
    try {
      if ((await haproxy.adopt()) === undefined) return false;
      const state = await readAdoptedState(new RuntimeApi(paths.adminSocket), paths);
      slots.adopt(state.slotsByBackend, state.machineOfSlot);
      reconciler.adopted(state.machineOfSlot, state.certs);
      renderedStructure = state.structure;
    } catch (error) {
      log.warn({ err: errorMessage(error) }, "could not read the adopted HAProxy's state; reloading it");
      renderedStructure = '';
    } finally {
      adopting = false;
    }
    return true;
  }
  const applySuspended = suspendedMapSync(
    new RuntimeApi(paths.adminSocket),
    paths.suspendedMap,
    log.child({ component: 'budget' }),
  );
  /** HAProxy's map of suspended apps made current (after each pass and each budget change). */
  const syncSuspended = async () => {
    if (haproxy.workerPid === undefined || adopting) return; // loaded from the file at start
    await applySuspended(budgets.suspended(apps.values()));
  };
  const reconciler: Reconciler = new Reconciler({
    api: new RuntimeApi(paths.adminSocket),
    paths,
    hostsMap: paths.hostsMap,
    slotsMap: paths.slotsMap,
    log,
    wanted,
    wantedApps,
    fullPassEveryMs: options.fullSyncEveryMs,
    onPass: (kind, ms) => {
      void syncSuspended();
      log.debug({ kind, ms: Math.round(ms) }, 'routes synced with HAProxy');
      listeners?.metrics.syncPasses.inc({ kind });
      listeners?.metrics.syncPassSeconds.inc({ kind }, ms / 1000);
    },
    structureChanged: (routes) => structureHash(structureKey(configInput(routes))) !== renderedStructure,
    reload: async (routes) => {
      // The old worker's counters go with it: read them first.
      await httpStats.sample().catch(() => {});
      await egress?.sample();
      await writeConfig(routes);
      await haproxy.reload();
    },
    isRunning: () => haproxy.workerPid !== undefined && !adopting,
    slotFreed: (backend, slot) => slots.release(backend, slot),
  });

  const stopped = new Promise<never>((_, reject) =>
    controller.signal.addEventListener('abort', () => reject(proxyStopped()), { once: true }),
  );
  stopped.catch(() => {});
  const ready = (async () => {
    const synced = [
      apps,
      machines,
      statuses,
      certs,
      ...budgets.mirrors,
      ...(peers ? [peers.mirror] : []),
    ].map((m) => m.synced);
    await Promise.race([Promise.all(synced), stopped]);
    const portsFile = join(paths.dir, 'listeners.json');
    const ports = await readListenerPorts(portsFile);
    listeners = await startNodeListeners({
      store,
      region: options.region,
      metricsListen: options.metricsListen,
      metricsSocket: join(paths.dir, 'metrics.sock'),
      appsDomain,
      replayLuaPath: join(paths.dir, 'replay.lua'),
      bufferedSocket: join(paths.dir, 'buffered.sock'),
      acmeTlsAlpn: options.acmeTlsAlpn,
      machineOf,
      httpStats,
      ports,
      ...(backhaul
        ? {
            reach: {
              agent: backhaul.agent,
              locate: (machineHost: string) => locateHost()?.(machineHost),
            },
          }
        : {}),
      log,
    });
    if (controller.signal.aborted) await listeners.close();
    const control = options.machineControl;
    if (control !== undefined) {
      activator = await startActivator({
        control,
        region: options.region,
        wakeTimeoutMs: options.wakeTimeoutMs ?? defaultWakeTimeoutMs,
        port: ports.activator,
        appOf: (host) => {
          const backend = lastRoutes?.hosts.get(host);
          return lastRoutes?.backends.find((candidate) => candidate.name === backend)?.app;
        },
        machinesOf: (app) => machineEntries().filter((entry) => entry.record.app === app),
        ...(backhaul
          ? {
              locate: (record: MachineRecord) => locateHost()?.(record.host),
              backhaulAgent: backhaul.agent,
            }
          : {}),
        onForward: (_app, machine) => autostop?.touch(machine),
        onWake: (app) => listeners?.metrics.wakes.inc({ app, region: options.region }),
        // Only wakes in this region measure "cold near": a far wake says nothing of a near one.
        onWakeTimed: (app, tier, ms) => (tier <= 1 ? wakeTimes.record(app, ms) : undefined),
        log: log.child({ component: 'activator' }),
      });
    }
    await writeListenerPorts(portsFile, {
      activator: activator?.address.port,
      replayer: listeners.replayer.address.port,
      acme: listeners.acmeResponder.port,
      acmeTlsAlpn: listeners.acmeTlsAlpn?.port,
    });
    if (!(await adoptRunning())) await haproxy.start();
    if (control !== undefined && !controller.signal.aborted) {
      autostop = startAutostop({
        api: new RuntimeApi(paths.adminSocket),
        control,
        store,
        host,
        region: options.region,
        isLocal,
        reachable: (record) => {
          const where = locateHost();
          return where === undefined || where(record.host) !== undefined;
        },
        signal: controller.signal,
        ...(options.autostop?.leaseTtlMs !== undefined ? { leaseTtlMs: options.autostop.leaseTtlMs } : {}),
        intervalMs: options.autostop?.intervalMs ?? autostopDefaults.intervalMs,
        idleMs: options.autostop?.idleMs ?? autostopDefaults.idleMs,
        machines: machineEntries,
        budgetLevel,
        machineOf,
        log: log.child({ component: 'autostop' }),
      });
    }
    if (!controller.signal.aborted) {
      egress = startEgressMeter({
        api: new RuntimeApi(paths.adminSocket),
        store,
        host,
        region: options.region,
        orgOf: (app) => {
          const record = apps.entries.get(keys.app(app))?.value;
          return record === undefined ? undefined : (record.org_slug ?? 'personal');
        },
        ...(options.meterIntervalMs ? { intervalMs: options.meterIntervalMs } : {}),
        log: log.child({ component: 'egress' }),
        signal: controller.signal,
      });
      startDemand({
        api: new RuntimeApi(paths.adminSocket),
        store,
        host,
        region: options.region,
        intervalMs: options.demand?.intervalMs ?? demandDefaults.intervalMs,
        machines: () => new Map([...machines.values()].map((record) => [record.id, record])),
        isLocal,
        locate: (record) => locateHost()?.(record.host),
        machineOf,
        log: log.child({ component: 'demand' }),
        signal: controller.signal,
      });
    }
    await reconciler.settled(reconciler.kick(0));
    // Peers route here once the backhaul serves.
    await peers?.start();
    log.info({ listen: httpListenText, tlsListen: tlsListenText, appsDomain }, 'edge proxy ready');
  })();
  ready.catch(() => {}); // the caller sees the rejection through `ready`; never unhandled

  /** Waits until the mirrors hold every change the store had when called. */
  async function caughtUp() {
    const revision = await store.revision();
    for (const mirror of mirrors) {
      while (!(await mirrorCaughtUp(store, mirror, revision))) {
        if (controller.signal.aborted) throw proxyStopped();
        await sleep(5);
      }
    }
  }

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      controller.abort();
      backhaul?.agent.destroy();
      reconciler.stop(proxyStopped());
      autostop?.stop();
      if (options.outliveNearby) haproxy.detach();
      else await haproxy.stop();
      await listeners?.close();
      await activator?.close();
      log.info('edge proxy stopped');
    })();
    return stopping;
  }
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  if (options.signal?.aborted) void stop();

  return {
    ready,
    async synced() {
      await ready;
      await caughtUp();
      await reconciler.settled(reconciler.kick(0));
      await syncSuspended();
    },
    stop,
  };
}

/** The backhaul options checked, with the agent Node uses to reach peers. */
function backhaulSettings(options: BackhaulOptions) {
  const listen = parseListen(options.listen);
  if (listen === undefined) throw invalidProxyOption('backhaul.listen', options.listen, 'host:port');
  const advertise = options.advertise ?? options.listen;
  const advertised = parseListen(advertise);
  if (advertised === undefined || ['0.0.0.0', '::'].includes(advertised.host)) {
    throw invalidProxyOption(
      'backhaul.advertise',
      advertise,
      'the host:port other proxies reach this one at',
    );
  }
  const target: BackhaulTarget = { listen, certFile: options.certFile, caFile: options.caFile };
  return {
    target,
    advertise,
    agent: backhaulAgent(options),
    timing: { ...peerTimingDefaults, ...options.timing },
  };
}
