/** `/v1/apps`: create, list, get, delete. */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { isNearbyError } from '../../errors.ts';
import { type AppRecord, keys, type MachineRecord, pushEvent } from '../../model/mod.ts';
import { update, values } from '../../store/mod.ts';
import { apiErrors } from '../errors.ts';
import { type ControlPlane, getApp, listRecords } from '../machines.ts';
import { createAppSchema } from '../schemas.ts';

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

  api.get<{ Querystring: { org_slug?: string } }>('/v1/apps', async (request) => {
    const apps = (await values<AppRecord>(store, keys.apps())).filter(
      (app) => !request.query.org_slug || app.org_slug === request.query.org_slug,
    );
    const views = await Promise.all(
      apps.map(async (app) => appView(app, (await listRecords(store, app.name)).length)),
    );
    return { total_apps: views.length, apps: views };
  });

  api.post<{ Body: { app_name: string; org_slug?: string; network?: string } }>(
    '/v1/apps',
    { schema: { body: createAppSchema } },
    async (request, reply) => {
      const { app_name: name, org_slug: org = 'personal', network = 'default' } = request.body;
      if (!appName.test(name)) throw apiErrors.appNameInvalid(name);
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

  api.get<{ Params: { app: string } }>('/v1/apps/:app', async (request) => {
    const app = await getApp(store, request.params.app);
    return appView(app, (await listRecords(store, app.name)).length);
  });

  // Deleting an app destroys its machines: agents tear them down, the reaper forgets them.
  api.delete<{ Params: { app: string } }>('/v1/apps/:app', async (request, reply) => {
    const app = await getApp(store, request.params.app);
    for (const record of await listRecords(store, app.name)) {
      await update<MachineRecord>(store, keys.machine(app.name, record.id), (current) =>
        current && current.desired.state !== 'destroyed'
          ? {
              ...current,
              desired: { state: 'destroyed', seq: current.desired.seq + 1, reason: 'api', signal: 'SIGKILL' },
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
    await store.delete(keys.app(app.name));
    reply.code(202);
    return { ok: true };
  });
}
