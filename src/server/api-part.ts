/**
 * The control plane as a part: nearby's registry, the certificate manager and the API.
 */
import type { Logger } from 'pino';
import { splitHostPort, startApi } from '../api/mod.ts';
import { checkSecretKey } from '../api/secret-key-check.ts';
import { startCertificates } from '../certs/mod.ts';
import { loadSecretKey } from '../model/mod.ts';
import type { ImageStore } from '../oci/mod.ts';
import { type NearbyRegistry, prepareRegistry } from '../registry/mod.ts';
import type { Store } from '../store/mod.ts';
import type { RegistryAccess } from './registry-access.ts';
import type { ServerSettings } from './settings.ts';

export interface RunningApiPart {
  url: string;
  stop(): Promise<void>;
}

/**
 * Prepares the registry (its credential is in `registryAccess` at once: an agent in the same
 * process may pull from it as soon as it starts); `start()` runs the rest.
 */
export async function prepareApiPart(options: {
  settings: ServerSettings;
  store: Store;
  images: ImageStore;
  registryAccess: RegistryAccess;
  log: Logger;
  signal: AbortSignal;
}): Promise<{ start(): Promise<RunningApiPart> }> {
  const { settings, log } = options;
  const registry =
    settings.registryListen === 'off'
      ? undefined
      : await prepareRegistry({
          dataDir: settings.dataDir,
          listen: settings.registryListen,
          apiListen: settings.apiListen,
          apiUrl: settings.apiUrl,
          ...(settings.registryAddress ? { address: settings.registryAddress } : {}),
          log: log.child({ part: 'registry' }),
        });
  // Addresses only this host reaches, in a store other hosts share: say so before a pull fails.
  const loopback = (address: string) =>
    /^(127\.|\[::1\]|localhost)/.test(address.replace(/^https?:\/\//, ''));
  if (settings.nats && registry && loopback(registry.host))
    log.warn(
      { registry: registry.host },
      `other hosts cannot pull from nearby's registry at ${registry.host}: give --registry-address HOST:PORT (and --registry-listen) they reach`,
    );
  if (settings.nats && loopback(settings.apiUrl))
    log.warn(
      { api: settings.apiUrl },
      `other hosts cannot reach this API at ${settings.apiUrl} (the registry's token service is there): give --api-url`,
    );
  // This process's pulls from its own registry use the internal credential.
  if (registry)
    options.registryAccess.use(registry.host, {
      username: 'nearby',
      password: registry.tokenService.internalSecret,
    });
  return { start: () => startPrepared(options, registry) };
}

async function startPrepared(
  options: Parameters<typeof prepareApiPart>[0],
  registry: NearbyRegistry | undefined,
): Promise<RunningApiPart> {
  const { settings, store, log, signal } = options;
  // Before the CA: its key is sealed with the secrets key, which must be the store's.
  const secretKey = loadSecretKey(settings.dataDir);
  await checkSecretKey(store, secretKey, settings.dataDir);
  const certificates = await startCertificates({
    secretKey,
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
  const [, proxyPort] = settings.proxyListen.split(/:(?=\d+$)/);
  const api = await startApi({
    store,
    images: options.images,
    defaultRegion: settings.region,
    appsDomain: settings.appsDomain,
    appUrlTemplate: `http://{app}.${settings.appsDomain}${proxyPort === '80' ? '' : `:${proxyPort}`}/`,
    log: log.child({ part: 'api' }),
    listen: settings.apiListen,
    dataDir: settings.dataDir,
    registry: registry?.tokenService,
    signal,
    // Other APIs may share a NATS store: each charges its rate limits with what the others allowed.
    ...(settings.nats ? { peerName: `${settings.hostName}:${splitHostPort(settings.apiListen)[1]}` } : {}),
  });
  return {
    url: api.url,
    async stop() {
      await api.close();
      await registry?.stop();
      await certificates.done;
    },
  };
}
