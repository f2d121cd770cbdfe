/**
 * The edge proxy (DESIGN.md §4): HAProxy moves the bytes; this module watches the store, renders
 * HAProxy's configuration, and keeps it current through the Runtime API, reloading only when
 * the set of app backends changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { keys } from '../model/keys.ts';
import type { AppRecord, MachineRecord, MachineStatus } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import { writeProxyFiles } from './config-files.ts';
import { invalidProxyOption, proxyStopped, socketPathTooLong } from './errors.ts';
import { defaultLimits, parseListen, proxyPaths } from './haproxy-config.ts';
import { HaproxyProcess } from './haproxy-process.ts';
import { computeRoutes, type RouteTable } from './routes.ts';
import { RuntimeApi } from './runtime-api.ts';
import { mirrorCaughtUp, StoreMirror } from './store-mirror.ts';
import { Reconciler } from './sync.ts';

export { proxyPaths } from './haproxy-config.ts';
export { RuntimeApi } from './runtime-api.ts';

export interface ProxyOptions {
  store: Store;
  region: string;
  dataDir: string;
  /** `host:port` of the public HTTP frontend; default `0.0.0.0:8080`. */
  httpListen?: string;
  /** Apps answer at `<app>.<appsDomain>`; default `localhost`. */
  appsDomain?: string;
  /** Default `/usr/sbin/haproxy`. */
  haproxyBin?: string;
  log: pino.Logger;
  /** Aborting it stops the proxy. */
  signal?: AbortSignal;
}

export interface EdgeProxy {
  /** Resolves when HAProxy serves the current routes. @throws NearbyError HAPROXY_START_FAILED */
  ready: Promise<void>;
  /** Resolves when every store change made so far is applied to HAProxy. */
  synced(): Promise<void>;
  /** Stops HAProxy (requests in flight get a few seconds) and the watches. */
  stop(): Promise<void>;
}

const defaults = { httpListen: '0.0.0.0:8080', appsDomain: 'localhost', haproxyBin: '/usr/sbin/haproxy' };

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
  const appsDomain = (options.appsDomain ?? defaults.appsDomain).toLowerCase();
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(appsDomain)) {
    throw invalidProxyOption('appsDomain', appsDomain, 'a DNS name such as apps.example.com');
  }
  if (!/^[a-z0-9-]{1,32}$/.test(options.region)) {
    throw invalidProxyOption('region', options.region, 'a region code such as fra');
  }
  const paths = proxyPaths(options.dataDir);
  for (const path of [paths.adminSocket, paths.masterSocket]) {
    if (Buffer.byteLength(path) > 100) throw socketPathTooLong(path);
  }
  const bin = options.haproxyBin ?? defaults.haproxyBin;
  const log = options.log.child({ part: 'proxy', region: options.region });
  const controller = new AbortController();
  const { store } = options;

  const kick = () => reconciler?.kick();
  const apps = new StoreMirror<AppRecord>(store, keys.apps(), controller.signal, kick, log);
  const machines = new StoreMirror<MachineRecord>(store, keys.machines(), controller.signal, kick, log);
  const statuses = new StoreMirror<MachineStatus>(
    store,
    keys.machineStatuses(),
    controller.signal,
    kick,
    log,
  );
  const mirrors = [apps, machines, statuses];
  let skippedBefore = '';

  function wanted(): RouteTable {
    const statusByKey = new Map([...statuses.entries].map(([key, entry]) => [key, entry.value]));
    const routes = computeRoutes({
      apps: apps.values(),
      machines: machines.values(),
      statuses: statusByKey,
      appsDomain,
    });
    const skipped = routes.skipped.join(', ');
    if (skipped !== '' && skipped !== skippedBefore)
      log.warn({ skipped }, 'names HAProxy cannot route; left out');
    skippedBefore = skipped;
    return routes;
  }

  const writeConfig = (routes: RouteTable) =>
    writeProxyFiles(
      { paths, region: options.region, appsDomain, httpListen, routes, maxconn: defaultLimits.maxconn },
      bin,
    );

  const haproxy = new HaproxyProcess({
    bin,
    paths,
    log,
    prepare: () => writeConfig(wanted()),
    onReady: () => reconciler?.kick(0),
  });
  const reconciler: Reconciler = new Reconciler({
    api: new RuntimeApi(paths.adminSocket),
    hostsMap: paths.hostsMap,
    log,
    wanted,
    reload: async (routes) => {
      await writeConfig(routes);
      await haproxy.reload();
    },
    isRunning: () => haproxy.workerPid !== undefined,
  });

  const stopped = new Promise<never>((_, reject) =>
    controller.signal.addEventListener('abort', () => reject(proxyStopped()), { once: true }),
  );
  stopped.catch(() => {});
  const ready = (async () => {
    await Promise.race([Promise.all(mirrors.map((mirror) => mirror.synced)), stopped]);
    await haproxy.start();
    await reconciler.settled(reconciler.kick(0));
    log.info({ listen: httpListenText, appsDomain }, 'edge proxy ready');
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
      reconciler.stop(proxyStopped());
      await haproxy.stop();
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
    },
    stop,
  };
}
