/**
 * `nearby server`: every part in one process on one host (DESIGN.md §1): the store, the API,
 * the agent and the edge proxy. SIGTERM stops nearby but leaves machines and HAProxy running (apps
 * keep answering); the next start adopts them. `nearby host clean` stops them.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent } from '../agent/mod.ts';
import { createHostRuntime } from '../agent/runtime/mod.ts';
import { ensureAdminToken, startApi } from '../api/mod.ts';
import { startCertificates } from '../certs/mod.ts';
import { createHostNetwork } from '../net/mod.ts';
import { ImageStore } from '../oci/mod.ts';
import { startProxy } from '../proxy/mod.ts';
import { prepareRegistry } from '../registry/mod.ts';
import { openStore } from '../store/mod.ts';
import { createLogger } from './log.ts';
import { machineControl } from './machine-control.ts';
import { type ServerSettings, settingsFile } from './settings.ts';

export type { ServerSettings } from './settings.ts';

export async function runServer(settings: ServerSettings, signal: AbortSignal): Promise<void> {
  const log = createLogger(settings.logFormat);
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  await writeFile(settingsFile(settings.dataDir), `${JSON.stringify(settings, null, 2)}\n`);
  const store = await openStore({ dataDir: settings.dataDir });
  await ensureAdminToken(store, settings.dataDir);
  const registry =
    settings.registryListen === 'off'
      ? undefined
      : await prepareRegistry({
          dataDir: settings.dataDir,
          listen: settings.registryListen,
          apiListen: settings.apiListen,
          log: log.child({ part: 'registry' }),
        });
  const images = new ImageStore({
    dir: join(settings.dataDir, 'images'),
    insecureRegistries: settings.insecureRegistries,
    // Agents and the control plane pull from nearby's own registry with an internal credential.
    credentials: registry?.credentials,
    log: log.child({ part: 'images' }),
  });
  const runtime = await createHostRuntime(settings.runtime, {
    stateDir: join(settings.dataDir, 'runtime'),
    logger: log.child({ part: 'runtime' }),
  });
  const [, proxyPort] = settings.proxyListen.split(/:(?=\d+$)/);
  const [, proxyTlsPort] = settings.proxyTlsListen.split(/:(?=\d+$)/);
  const network = createHostNetwork({
    bridge: settings.bridge,
    ipv4Cidr: settings.ipv4Cidr,
    ipv6Cidr: settings.ipv6Cidr,
    netnsPrefix: `${settings.bridge}-`,
    // The edge proxy's public ports are the one door from machines into the host: an app calling
    // another app by its public name reaches it the same way from this host as from any other.
    hostTcpPorts: [proxyPort, proxyTlsPort].map(Number).filter((port) => Number.isInteger(port) && port > 0),
  });
  const appUrlTemplate = `http://{app}.${settings.appsDomain}${proxyPort === '80' ? '' : `:${proxyPort}`}/`;

  const agent = await startAgent({
    store,
    host: settings.hostName,
    region: settings.region,
    dataDir: settings.dataDir,
    images,
    runtime,
    network,
    log: log.child({ part: 'agent' }),
    signal,
  });
  const proxy = startProxy({
    store,
    region: settings.region,
    dataDir: settings.dataDir,
    httpListen: settings.proxyListen,
    tlsListen: settings.proxyTlsListen,
    acmeTlsAlpn: settings.acmeChallenge === 'tls-alpn-01',
    // Apps keep answering while nearby restarts, crashes or is upgraded; the next start adopts it.
    outliveNearby: true,
    appsDomain: settings.appsDomain,
    metricsListen: settings.metricsListen,
    machineControl: machineControl({ store, images, defaultRegion: settings.region }),
    autostop: { intervalMs: settings.autostopIntervalMs, idleMs: settings.autostopIdleMs },
    wakeTimeoutMs: settings.wakeTimeoutMs,
    // HAProxy writes one line per request straight to nearby's log (stderr), never through Node.
    accessLog: { fd: 2, format: settings.logFormat },
    log: log.child({ part: 'proxy' }),
    signal,
  });
  await proxy.ready;
  const certificates = await startCertificates({
    store,
    dataDir: settings.dataDir,
    appsDomain: settings.appsDomain,
    acmeDirectory: settings.acmeDirectory,
    acmeChallenge: settings.acmeChallenge,
    acmeDnsListen: settings.acmeDnsListen || undefined,
    hostName: settings.hostName,
    log: log.child({ part: 'certs' }),
    signal,
  });
  // Before the API: once the API answers /health, the registry answers too.
  await registry?.start();
  const api = await startApi({
    store,
    images,
    defaultRegion: settings.region,
    appsDomain: settings.appsDomain,
    appUrlTemplate,
    log: log.child({ part: 'api' }),
    listen: settings.apiListen,
    dataDir: settings.dataDir,
    registry: registry?.tokenService,
    signal,
  });
  log.info(
    {
      api: api.url,
      proxy: settings.proxyListen,
      region: settings.region,
      runtime: runtime.name,
      dataDir: settings.dataDir,
    },
    `nearby is up: API ${api.url}, apps at ${appUrlTemplate.replace('{app}', '<app>')}`,
  );

  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  log.info('shutting down (machines and the edge proxy keep running; the next start adopts them)');
  await api.close();
  await registry?.stop();
  await proxy.stop();
  await certificates.done;
  await agent.done;
  await agent.reconciler.idle();
  await store.close();
}
