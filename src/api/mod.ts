/**
 * The control-plane API (Machines API shape) on fastify. Errors always answer
 * `{"error": "...", "code": "...", "hint"?: "..."}` with the status of their NearbyError
 * (error-replies.ts); an empty request body is no body (body-parsers.ts).
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import { runAutoscaler } from '../autoscale/loop.ts';
import { runEnforcer } from '../billing/enforce-loop.ts';
import { loadSecretKey, SecretBox } from '../model/mod.ts';
import type { ImageService } from '../oci/types.ts';
import { type RegistryTokenService, registryRoutes } from '../registry/mod.ts';
import type { Store } from '../store/mod.ts';
import { authenticate } from './auth.ts';
import { readBodies } from './body-parsers.ts';
import { clientErrorHandler, frameworkErrors, replyWithApiErrors } from './error-replies.ts';
import { type ApiLimiters, apiLimiters, createGuard } from './guard.ts';
import { leaseRoutes } from './leases.ts';
import { type ControlPlane, startMachine, stopMachine } from './machines.ts';
import { collectRoutes, openApiDocument } from './openapi.ts';
import { runReaper } from './reaper.ts';
import { appRoutes } from './routes/apps.ts';
import { autoscaleRoutes } from './routes/autoscale.ts';
import { billingRoutes } from './routes/billing.ts';
import { certRoutes } from './routes/certs.ts';
import { consoleRoutes } from './routes/console.ts';
import { imageRoutes } from './routes/images.ts';
import { logRoutes } from './routes/logs.ts';
import { machineActionRoutes } from './routes/machine-actions.ts';
import { machineCheckRoutes } from './routes/machine-checks.ts';
import { machineRoutes } from './routes/machines.ts';
import { platformRoutes } from './routes/platform.ts';
import { releaseRoutes } from './routes/releases.ts';
import { secretRoutes } from './routes/secrets.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { volumeRoutes } from './routes/volumes.ts';
import { checkSecretKey } from './secret-key-check.ts';
import { shareRateLimits } from './shared-rate-limits.ts';

export { adminTokenFile, claimAdminToken, ensureAdminToken } from './auth.ts';

export interface ApiOptions {
  store: Store;
  images: ImageService;
  defaultRegion: string;
  appsDomain: string;
  /** Where apps answer, with `{app}` for the name: `http://{app}.localhost:8080/`. */
  appUrlTemplate: string;
  /** Named by the caller (`part: 'api'`); the API names its pieces `component`. */
  log: Logger;
  /** Holds the key that seals app secrets (`secrets.key`). */
  dataDir: string;
  /** Aborted when the server shuts down. */
  signal?: AbortSignal;
  /** nearby's registry, whose token service (`/v1/registry/token`) the API serves. */
  registry?: RegistryTokenService;
  /** The rate limiters requests are charged to (default: from the environment). */
  limiters?: ApiLimiters;
}

export function buildApi(options: ApiOptions): FastifyInstance {
  const api = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 4 * 1024 * 1024,
    ajv: { customOptions: { coerceTypes: false, allErrors: true, removeAdditional: true } },
    frameworkErrors,
    clientErrorHandler,
  });
  const cp: ControlPlane = {
    store: options.store,
    images: options.images,
    defaultRegion: options.defaultRegion,
    shutdown: options.signal,
  };

  const routeTable = collectRoutes(api);
  readBodies(api);
  replyWithApiErrors(api, routeTable);
  const guard = createGuard(options.store, options.limiters);
  api.decorateRequest('token');
  api.addHook('onRequest', async (request, reply) => {
    if (request.url === '/health' || request.url === '/v1/openapi.json') return;
    // The registry's token service authenticates by itself (HTTP Basic, as registry clients send).
    if (request.routeOptions.url === '/v1/registry/token') return;
    request.token = await authenticate(options.store, request.headers.authorization);
    await guard(request, reply);
  });
  api.get('/health', async () => ({ ok: true }));
  api.get('/v1/openapi.json', async () => openApiDocument(routeTable, { version: '0.1.0' }));

  appRoutes(api, cp);
  machineRoutes(api, cp);
  machineActionRoutes(api, cp);
  consoleRoutes(api, cp);
  leaseRoutes(api, cp);
  secretRoutes(api, cp, new SecretBox(loadSecretKey(options.dataDir)));
  tokenRoutes(api, cp);
  logRoutes(api, cp);
  imageRoutes(api, cp);
  platformRoutes(api, cp, options);
  billingRoutes(api, cp);
  certRoutes(api, cp, options);
  releaseRoutes(api, cp);
  autoscaleRoutes(api, cp);
  machineCheckRoutes(api, cp);
  volumeRoutes(api, cp);
  if (options.registry) registryRoutes(api, options.store, options.registry);
  return api;
}

export interface RunningApi {
  url: string;
  close(): Promise<void>;
}

/** Starts the API on `host:port` and the control loops that belong to the control plane. */
export async function startApi(
  options: ApiOptions & {
    listen: string;
    signal: AbortSignal;
    /** Set when other APIs share the store: this API's name there, to share rate limits by. */
    peerName?: string;
  },
): Promise<RunningApi> {
  // Before serving: an API with another key would seal secrets nobody else can open.
  await checkSecretKey(options.store, loadSecretKey(options.dataDir), options.dataDir);
  const limiters = options.limiters ?? apiLimiters();
  const api = buildApi({ ...options, limiters });
  const [host, port] = splitHostPort(options.listen);
  const address = await api.listen({ host, port });
  const reaper = runReaper(options.store, options.log.child({ component: 'reaper' }), options.signal);
  // Spending caps (docs/billing.md): one enforcer per cluster, whichever API holds the lease.
  const enforcerCp: ControlPlane = {
    store: options.store,
    images: options.images,
    defaultRegion: options.defaultRegion,
  };
  const enforcer = runEnforcer({
    store: options.store,
    holder: `${options.peerName ?? 'api'}:${process.pid}`,
    // The API's own start and stop (the record keeps one writer; a start still passes the gate).
    control: {
      start: async (app, id) => {
        await startMachine(enforcerCp, app, id, 'budget');
      },
      stop: async (app, id) => {
        await stopMachine(enforcerCp, app, id, { reason: 'budget' });
      },
    },
    log: options.log.child({ component: 'billing' }),
    signal: options.signal,
  });
  // Autoscaling by location (docs/autoscale.md): one autoscaler per cluster, by lease.
  const autoscaler = runAutoscaler({
    cp: { store: options.store, images: options.images, defaultRegion: options.defaultRegion },
    holder: `${options.peerName ?? 'api'}:${process.pid}`,
    log: options.log.child({ component: 'autoscale' }),
    signal: options.signal,
  });
  const sharing =
    options.peerName === undefined
      ? undefined
      : shareRateLimits({
          store: options.store,
          api: options.peerName,
          limiters: { ...limiters },
          log: options.log.child({ component: 'rate-limits' }),
          signal: options.signal,
        });
  return {
    url: address.replace('[::1]', 'localhost'),
    async close() {
      await api.close();
      await reaper.catch(() => {});
      await enforcer.catch(() => {});
      await autoscaler.catch(() => {});
      await sharing?.catch(() => {});
    },
  };
}

export function splitHostPort(listen: string): [string, number] {
  const index = listen.lastIndexOf(':');
  const host = listen.slice(0, index).replace(/^\[|\]$/g, '') || '0.0.0.0';
  return [host, Number(listen.slice(index + 1))];
}
