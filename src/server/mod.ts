/**
 * nearby's processes: `nearby server` runs every part in one process on one host (DESIGN.md §1);
 * `nearby api|agent|proxy|node` run some of them, sharing only the store (`--nats`). One
 * implementation of each part (api-part.ts, agent-part.ts, proxy-part.ts), started here.
 * SIGTERM stops nearby but leaves machines and HAProxy running (apps keep answering); the next
 * start adopts them. `nearby host clean` stops them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageStore } from '../oci/mod.ts';
import { spawnThroughHelper } from '../run-command.ts';
import { onStartStep } from '../start-steps.ts';
import { openStore, type Store } from '../store/mod.ts';
import { type RunningAgentPart, startAgentPart } from './agent-part.ts';
import { prepareApiPart, type RunningApiPart } from './api-part.ts';
import { createLogger } from './log.ts';
import { startProxyPart } from './proxy-part.ts';
import { RegistryAccess } from './registry-access.ts';
import { remoteSecrets } from './remote-secrets.ts';
import { type PartName, type ServerSettings, settingsFile, settingsToSave } from './settings.ts';
import { adminToken, partToken } from './tokens.ts';

export type { PartName, ServerSettings } from './settings.ts';

/** `nearby server`: every part. */
export function runServer(settings: ServerSettings, signal: AbortSignal): Promise<void> {
  return runParts(['api', 'agent', 'proxy'], settings, signal);
}

export async function runParts(parts: readonly PartName[], settings: ServerSettings, signal: AbortSignal) {
  // A server's heap grows with its machines; spawning from it would too (run-command.ts).
  spawnThroughHelper();
  const log = createLogger(settings.logFormat);
  if (log.isLevelEnabled('debug')) onStartStep((step) => log.debug(step, 'start step'));
  const has = (part: PartName) => parts.includes(part);
  await mkdir(settings.dataDir, { recursive: true, mode: 0o700 });
  const previous = await readFile(settingsFile(settings.dataDir), 'utf8')
    .then((text) => JSON.parse(text) as Partial<ServerSettings>)
    .catch(() => undefined);
  const saved = settingsToSave(parts, settings, previous);
  await writeFile(settingsFile(settings.dataDir), `${JSON.stringify(saved, null, 2)}\n`);
  const store = await openStore(settings.nats ? { nats: settings.nats } : { dataDir: settings.dataDir });
  // The first API on a store makes the admin token; with the API in this process its token is at
  // hand, else the operator gave this host one (--token-file, NEARBY_API_TOKEN).
  const admin = has('api') ? await adminToken(store, settings, log) : undefined;
  const token = admin ?? (await partToken(settings));
  const registryAccess = new RegistryAccess(settings.insecureRegistries);
  const images = new ImageStore({
    dir: join(settings.dataDir, 'images'),
    insecureRegistries: registryAccess.insecure,
    credentials: registryAccess.lookup,
    log: log.child({ part: 'images' }),
  });
  // An agent without the API beside it asks the API where the registry is, with its token.
  if (has('agent') && !has('api') && token)
    void registryAccess.discover(settings.apiUrl, token, log.child({ part: 'images' }), signal);
  if (has('agent') && !has('api') && !token)
    log.warn(
      "this agent has no API token (--token-file or NEARBY_API_TOKEN): it cannot pull from nearby's registry or read apps' secrets",
    );

  // The registry first: an agent in this process may pull from it as soon as it starts.
  const api = has('api')
    ? await prepareApiPart({ settings, store, images, registryAccess, log, signal })
    : undefined;
  const started: { agent?: RunningAgentPart; proxy?: { stop(): Promise<void> }; api?: RunningApiPart } = {};
  try {
    if (has('agent')) {
      // Without the API beside it, the agent asks the API for secret values (the key stays there).
      const secrets = has('api') ? undefined : remoteSecrets(settings.apiUrl, token);
      started.agent = await startAgentPart({
        settings,
        store,
        images,
        ...(secrets ? { secrets } : {}),
        log,
        signal,
      });
    }
    if (has('proxy'))
      started.proxy = await startProxyPart({
        settings,
        store,
        token,
        // With the API here, the proxy's wakes go to it directly rather than over HTTP.
        ...(api ? { controlPlane: { store, images, defaultRegion: settings.region } } : {}),
        log,
        signal,
      });
    if (api) started.api = await api.start();
  } catch (error) {
    // The agent stops following the store only once `signal` aborts: not waited for here.
    await stopAll({ ...started, agent: undefined }, store);
    throw error;
  }
  log.info(
    {
      parts,
      store: settings.nats ? `nats ${settings.nats.join(',')}` : 'sqlite',
      region: settings.region,
      host: settings.hostName,
      ...(started.api ? { api: started.api.url } : {}),
      ...(started.proxy ? { proxy: settings.proxyListen } : {}),
      ...(started.proxy && settings.backhaul ? { backhaul: settings.backhaul.advertise } : {}),
      ...(started.agent ? { runtime: started.agent.runtime, ...started.agent.subnets } : {}),
      dataDir: settings.dataDir,
    },
    upMessage(parts, settings, started.api?.url),
  );

  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  log.info('shutting down (machines and the edge proxy keep running; the next start adopts them)');
  await stopAll(started, store);
}

async function stopAll(
  started: { agent?: RunningAgentPart; proxy?: { stop(): Promise<void> }; api?: RunningApiPart },
  store: Store,
) {
  await started.api?.stop();
  await started.proxy?.stop();
  await started.agent?.stop();
  await store.close();
}

function upMessage(parts: readonly PartName[], settings: ServerSettings, apiUrl: string | undefined): string {
  const [, proxyPort] = settings.proxyListen.split(/:(?=\d+$)/);
  const apps = `http://<app>.${settings.appsDomain}${proxyPort === '80' ? '' : `:${proxyPort}`}/`;
  const pieces = [
    apiUrl ? `API ${apiUrl}` : '',
    parts.includes('agent') ? `agent of ${settings.hostName} in ${settings.region}` : '',
    parts.includes('proxy') ? `apps at ${apps}` : '',
  ].filter(Boolean);
  return `nearby is up: ${pieces.join(', ')}`;
}
