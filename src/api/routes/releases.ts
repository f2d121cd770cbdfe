/**
 * `/v1/apps/{app}/releases`: the record of every deploy. The deploying client creates a release
 * (the API resolves its image to a digest and numbers it), then moves it through its statuses.
 */
import type { FastifyInstance } from 'fastify';
import { isNearbyError, NearbyError } from '../../errors.ts';
import {
  type AutoscaleConfig,
  DEPLOY_STRATEGIES,
  type DeployStrategy,
  isReleaseFinished,
  keys,
  type MachineConfig,
  RELEASE_STATUSES,
  type ReleaseRecord,
  type ReleaseStatus,
} from '../../model/mod.ts';
import { type Store, update, values } from '../../store/mod.ts';
import { type ControlPlane, getApp } from '../machines.ts';
import { appParams } from '../schemas.ts';

const versionParams = {
  type: 'object',
  required: ['app', 'version'],
  properties: { app: appParams.properties.app, version: { type: 'string', pattern: '^[0-9]{1,8}$' } },
} as const;

/** `[autoscale]` as the CLI validated and normalized it (config/schema/autoscale.ts). */
const autoscaleSchema = {
  type: 'object',
  required: [
    'min_machines',
    'max_machines',
    'regions',
    'target_concurrency',
    'scale_up_step',
    'scale_down_step',
    'cooldown',
  ],
  additionalProperties: false,
  properties: {
    min_machines: { type: 'integer', minimum: 0 },
    max_machines: { type: 'integer', minimum: 1 },
    regions: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9-]+$' } },
    target_concurrency: { type: 'integer', minimum: 1 },
    scale_up_step: { type: 'integer', minimum: 1 },
    scale_down_step: { type: 'integer', minimum: 1 },
    cooldown: { type: 'integer', minimum: 1000 },
  },
} as const;

type VersionParams = { Params: { app: string; version: string } };

const releaseNotFound = (app: string, version: number) =>
  new NearbyError('RELEASE_NOT_FOUND', `app ${app} has no release v${version}`, {
    status: 404,
    hint: `list them with \`nearby releases -a ${app}\``,
  });

/** Newest first. */
export async function listReleases(store: Store, app: string): Promise<ReleaseRecord[]> {
  return (await values<ReleaseRecord>(store, keys.releases(app))).sort((a, b) => b.version - a.version);
}

async function createRelease(store: Store, record: Omit<ReleaseRecord, 'version'>): Promise<ReleaseRecord> {
  // Two deploys at once each get their own number: the put only succeeds on a key nobody took.
  for (let attempt = 0; ; attempt++) {
    const version = ((await listReleases(store, record.app))[0]?.version ?? 0) + 1;
    const release: ReleaseRecord = { ...record, version };
    try {
      await store.put(keys.release(record.app, version), release, { expectRevision: 0 });
      return release;
    } catch (error) {
      if (!isNearbyError(error, 'STORE_CONFLICT') || attempt > 20) throw error;
    }
  }
}

export function releaseRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  api.get<{ Params: { app: string } }>(
    '/v1/apps/:app/releases',
    { schema: { summary: "List an app's releases, newest first", params: appParams } },
    async (request) => {
      await getApp(store, request.params.app);
      return { releases: await listReleases(store, request.params.app) };
    },
  );

  api.get<VersionParams>(
    '/v1/apps/:app/releases/:version',
    { schema: { summary: 'Get one release', params: versionParams } },
    async (request) => {
      const { app } = request.params;
      const version = Number(request.params.version);
      await getApp(store, app);
      const entry = await store.get<ReleaseRecord>(keys.release(app, version));
      if (!entry) throw releaseNotFound(app, version);
      return entry.value;
    },
  );

  api.post<{
    Params: { app: string };
    Body: {
      image: string;
      strategy: DeployStrategy;
      configs: Record<string, MachineConfig>;
      autoscale?: AutoscaleConfig;
    };
  }>(
    '/v1/apps/:app/releases',
    {
      schema: {
        summary: 'Record a new release (status pending); its image is resolved to a digest now',
        returnsStatus: 201,
        params: appParams,
        body: {
          type: 'object',
          required: ['image', 'strategy', 'configs'],
          properties: {
            image: { type: 'string', minLength: 1 },
            strategy: { type: 'string', enum: [...DEPLOY_STRATEGIES] },
            configs: { type: 'object', additionalProperties: { type: 'object' } },
            autoscale: autoscaleSchema,
          },
        },
      },
    },
    async (request, reply) => {
      const { app } = request.params;
      await getApp(store, app);
      const resolved = await cp.images.resolve(request.body.image);
      const now = new Date().toISOString();
      const release = await createRelease(store, {
        app,
        image: request.body.image,
        image_ref: resolved.ref,
        strategy: request.body.strategy,
        configs: request.body.configs,
        ...(request.body.autoscale ? { autoscale: request.body.autoscale } : {}),
        status: 'pending',
        user: request.token.kind === 'admin' ? 'admin' : request.token.name,
        created_at: now,
        updated_at: now,
      });
      return reply.code(201).send(release);
    },
  );

  api.patch<VersionParams & { Body: { status: ReleaseStatus; reason?: string } }>(
    '/v1/apps/:app/releases/:version',
    {
      schema: {
        summary: "Move a release to its next status (a finished release's status no longer changes)",
        params: versionParams,
        body: {
          type: 'object',
          required: ['status'],
          properties: {
            status: { type: 'string', enum: [...RELEASE_STATUSES] },
            reason: { type: 'string', maxLength: 4000 },
          },
        },
      },
    },
    async (request) => {
      const { app } = request.params;
      const version = Number(request.params.version);
      const { status, reason } = request.body;
      await getApp(store, app);
      let finished: ReleaseStatus | undefined;
      const next = await update<ReleaseRecord>(store, keys.release(app, version), (current) => {
        if (!current) throw releaseNotFound(app, version);
        if (isReleaseFinished(current.status)) {
          finished = current.status;
          return undefined;
        }
        return { ...current, status, updated_at: new Date().toISOString(), ...(reason ? { reason } : {}) };
      });
      if (finished && finished !== status) {
        throw new NearbyError('RELEASE_FINISHED', `release v${version} of ${app} is already ${finished}`, {
          status: 409,
          hint: 'a finished release keeps its status; deploy again to make a new one',
        });
      }
      return next;
    },
  );
}
