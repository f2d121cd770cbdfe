/** `/v1/apps`: create, list, get, delete. */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isNearbyError } from '../../errors.ts';
import { type AppRecord, keys, type MachineRecord, pushEvent } from '../../model/mod.ts';
import { update, values } from '../../store/mod.ts';
import { canAccessApp, canManageOrg } from '../auth.ts';
import { apiErrors } from '../errors.ts';
import { type ControlPlane, getApp, listRecords } from '../machines.ts';
import { appParams, createAppSchema } from '../schemas.ts';
import { destroyAppVolumes } from '../volumes.ts';

const appName = /^[a-z][a-z0-9-]{1,62}$/;

export function appView(app: AppRecord, machineCount: number) {
  return {
    id: app.id,
    name: app.name,
    machine_count: machineCount,
    network: app.network,
    organization: { name: app.org_slug, slug: app.org_slug },
    status: machineCount > 0 ? 'deployed' : 'pending',
    created_at: app.created_at,
  };
}

export function appRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  api.get<{ Querystring: { org_slug?: string } }>(
    '/v1/apps',
    {
      schema: {
        summary: 'List the apps the caller can see, optionally of one org',
        returns: 'AppList',
        querystring: { type: 'object', properties: { org_slug: { type: 'string' } } },
      },
    },
    async (request) => {
      const apps = (await values<AppRecord>(store, keys.apps())).filter(
        (app) =>
          canAccessApp(request.token, app) &&
          (!request.query.org_slug || app.org_slug === request.query.org_slug),
      );
      const views = await Promise.all(
        apps.map(async (app) => appView(app, (await listRecords(store, app.name)).length)),
      );
      return { total_apps: views.length, apps: views };
    },
  );

  api.post<{ Body: { app_name: string; org_slug?: string; network?: string } }>(
    '/v1/apps',
    { schema: { summary: 'Create an app', returns: 'App', returnsStatus: 201, body: createAppSchema } },
    async (request, reply) => {
      const { app_name: name, network = 'default' } = request.body;
      const org = request.body.org_slug ?? request.token.org_slug ?? 'personal';
      if (!appName.test(name)) throw apiErrors.appNameInvalid(name);
      if (!canManageOrg(request.token, org)) {
        throw apiErrors.forbidden(
          request.token.kind === 'deploy'
            ? 'a deploy token acts on its app only and cannot create apps'
            : `this token cannot create apps in org '${org}'`,
        );
      }
      const app: AppRecord = {
        id: randomBytes(8).toString('hex'),
        name,
        org_slug: org,
        network,
        created_at: new Date().toISOString(),
      };
      try {
        await store.put(keys.app(name), app, { expectRevision: 0 });
      } catch (error) {
        throw isNearbyError(error, 'STORE_CONFLICT') ? apiErrors.appExists(name) : error;
      }
      reply.code(201);
      return appView(app, 0);
    },
  );

  api.get<{ Params: { app: string } }>(
    '/v1/apps/:app',
    { schema: { summary: 'Get an app', returns: 'App', params: appParams } },
    async (request) => {
      const app = await getApp(store, request.params.app);
      return appView(app, (await listRecords(store, app.name)).length);
    },
  );

  // Deleting an app destroys its machines: agents tear them down, the reaper forgets them.
  api.delete<{ Params: { app: string } }>(
    '/v1/apps/:app',
    {
      schema: {
        summary: 'Delete an app and destroy its machines',
        returns: 'Ok',
        returnsStatus: 202,
        params: appParams,
      },
    },
    async (request, reply) => {
      const app = await getApp(store, request.params.app);
      if (request.token.kind === 'deploy') throw apiErrors.forbidden('a deploy token cannot delete its app');
      for (const record of await listRecords(store, app.name)) {
        await update<MachineRecord>(store, keys.machine(app.name, record.id), (current) =>
          current && current.desired.state !== 'destroyed'
            ? {
                ...current,
                desired: {
                  state: 'destroyed',
                  seq: current.desired.seq + 1,
                  reason: 'api',
                  signal: 'SIGKILL',
                },
                events: pushEvent(current.events, {
                  type: 'destroy',
                  status: 'destroying',
                  source: 'user',
                  timestamp: Date.now(),
                }),
                updated_at: new Date().toISOString(),
              }
            : undefined,
        );
      }
      await destroyAppVolumes(store, app.name);
      for (const prefix of [keys.secrets(app.name), keys.releases(app.name)]) {
        for (const { key } of await store.list(prefix)) await store.delete(key);
      }
      await store.delete(keys.app(app.name));
      reply.code(202);
      return { ok: true };
    },
  );
}
