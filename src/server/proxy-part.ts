/**
 * The edge proxy as a part: HAProxy driven from the store, waking and stopping machines through
 * the control plane (in this process when the API is, else an authenticated call to the API
 * wherever it runs), and with `--backhaul-*` routing to machines on other hosts through their
 * proxies.
 */
import type { Logger } from 'pino';
import { suspendMachine } from '../api/machine-actions.ts';
import { type ControlPlane, startMachine, stopMachine } from '../api/machines.ts';
import { errorMessage, isNearbyError } from '../errors.ts';
import { proxyApiRefused } from '../proxy/errors.ts';
import { apiMachineControl, type MachineControl, startProxy } from '../proxy/mod.ts';
import type { Store } from '../store/mod.ts';
import { backhaulCredentialFile, proxyHostName } from './backhaul-settings.ts';
import type { ServerSettings } from './settings.ts';

export async function startProxyPart(options: {
  settings: ServerSettings;
  store: Store;
  /** The API token for waking and stopping machines (undefined: wakes fail, saying so). */
  token: string | undefined;
  /** Set when the API runs in this process: the proxy starts and stops machines through it directly. */
  controlPlane?: ControlPlane;
  log: Logger;
  signal: AbortSignal;
}): Promise<{ stop(): Promise<void> }> {
  const { settings, log } = options;
  if (!options.token && !options.controlPlane)
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
    machineControl: options.controlPlane
      ? inProcessControl(options.controlPlane)
      : apiMachineControl({ apiUrl: settings.apiUrl, token: options.token }),
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

/**
 * The API's own start, stop and suspend, for a proxy in the API's process: what its routes do for
 * the proxy's token (the operator's, neither rate-limited nor scoped), without the HTTP round trip
 * and the token lookup, ~1 ms of a suspended wake's ~5 on this host (docs/perf.md). The record
 * keeps one writer, as with the spending cap's enforcer. Refusals read as the API's would.
 */
function inProcessControl(cp: ControlPlane): MachineControl {
  const refused = (action: string, id: string) => (error: unknown) => {
    if (!isNearbyError(error)) throw error;
    throw proxyApiRefused(action, id, error.status, errorMessage(error), error.code, error.hint);
  };
  return {
    start: async (app, id, reason) => {
      await startMachine(cp, app, id, reason).catch(refused('start', id));
    },
    stop: async (app, id, { suspend, reason }) => {
      await (suspend ? suspendMachine(cp, app, id, reason) : stopMachine(cp, app, id, { reason })).catch(
        refused(suspend ? 'suspend' : 'stop', id),
      );
    },
  };
}
