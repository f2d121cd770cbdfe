/**
 * The edge proxy as a part: HAProxy driven from the store, waking and stopping machines through
 * an authenticated call to the API (wherever it runs), and with `--backhaul-*` routing to machines
 * on other hosts through their proxies.
 */
import type { Logger } from 'pino';
import { apiMachineControl, startProxy } from '../proxy/mod.ts';
import type { Store } from '../store/mod.ts';
import { backhaulCredentialFile, proxyHostName } from './backhaul-settings.ts';
import type { ServerSettings } from './settings.ts';

export async function startProxyPart(options: {
  settings: ServerSettings;
  store: Store;
  /** The API token for waking and stopping machines (undefined: wakes fail, saying so). */
  token: string | undefined;
  log: Logger;
  signal: AbortSignal;
}): Promise<{ stop(): Promise<void> }> {
  const { settings, log } = options;
  if (!options.token)
    log.warn(
      'this proxy has no API token (--token-file or NEARBY_API_TOKEN): it cannot wake stopped machines or stop idle ones',
    );
  const backhaul = settings.backhaul;
  // Named as the agent names this host: its machines are those whose record says this name.
  const host = proxyHostName(settings.hostName);
  const proxy = startProxy({
    store: options.store,
    region: settings.region,
    ...(host ? { host } : {}),
    ...(backhaul
      ? {
          backhaul: {
            listen: backhaul.listen,
            advertise: backhaul.advertise,
            certFile: await backhaulCredentialFile(backhaul, settings.dataDir),
            caFile: backhaul.caFile,
          },
        }
      : {}),
    dataDir: settings.dataDir,
    httpListen: settings.proxyListen,
    tlsListen: settings.proxyTlsListen,
    acmeTlsAlpn: settings.acmeChallenge === 'tls-alpn-01',
    // Apps keep answering while nearby restarts, crashes or is upgraded; the next start adopts it.
    outliveNearby: true,
    appsDomain: settings.appsDomain,
    metricsListen: settings.metricsListen,
    machineControl: apiMachineControl({ apiUrl: settings.apiUrl, token: options.token }),
    autostop: { intervalMs: settings.autostopIntervalMs, idleMs: settings.autostopIdleMs },
    wakeTimeoutMs: settings.wakeTimeoutMs,
    meterIntervalMs: settings.meterIntervalMs,
    // HAProxy writes one line per request straight to nearby's log (stderr), never through Node.
    accessLog: { fd: 2, format: settings.logFormat },
    log: log.child({ part: 'proxy' }),
    signal: options.signal,
  });
  await proxy.ready;
  return { stop: () => proxy.stop() };
}
