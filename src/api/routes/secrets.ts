/**
 * `/v1/apps/{app}/secrets`: set, list and unset app secrets. Values are sealed before they reach
 * the store; lists show a name and a keyed digest only. Values leave the API only for host agents
 * (`secret-values`, host and admin tokens), which put them into machines.
 */
import type { FastifyInstance } from 'fastify';
import { keys, type SecretBox, type SecretRecord, secretAad } from '../../model/mod.ts';
import { type Store, values } from '../../store/mod.ts';
import { apiErrors } from '../errors.ts';
import { type ControlPlane, getApp } from '../machines.ts';
import { appParams, secretName } from '../schemas.ts';

const view = ({ name, digest, created_at, updated_at }: SecretRecord) => ({
  name,
  digest,
  created_at,
  updated_at,
});

async function setSecret(store: Store, box: SecretBox, app: string, name: string, value: string) {
  const existing = await store.get<SecretRecord>(keys.secret(app, name));
  const now = new Date().toISOString();
  const record: SecretRecord = {
    name,
    app,
    sealed: box.seal(value, secretAad(app, name)),
    digest: box.digest(value),
    created_at: existing?.value.created_at ?? now,
    updated_at: now,
  };
  await store.put(keys.secret(app, name), record);
  return record;
}

const list = async (store: Store, app: string) => ({
  secrets: (await values<SecretRecord>(store, keys.secrets(app))).map(view),
});

export function secretRoutes(api: FastifyInstance, cp: ControlPlane, box: SecretBox): void {
  const { store } = cp;
  const nameParams = {
    type: 'object',
    required: ['app', 'name'],
    properties: { app: appParams.properties.app, name: secretName },
  } as const;

  api.get<{ Params: { app: string } }>(
    '/v1/apps/:app/secrets',
    {
      schema: {
        summary: "List an app's secrets (names and digests, never values)",
        returns: 'SecretList',
        params: appParams,
      },
    },
    async (request) => {
      await getApp(store, request.params.app);
      return list(store, request.params.app);
    },
  );

  api.post<{ Params: { app: string }; Body: { values: Record<string, string | null> } }>(
    '/v1/apps/:app/secrets',
    {
      schema: {
        summary: 'Set (a string) or unset (null) several secrets at once',
        returns: 'SecretList',
        params: appParams,
        body: {
          type: 'object',
          required: ['values'],
          properties: {
            values: {
              type: 'object',
              propertyNames: secretName,
              additionalProperties: { anyOf: [{ type: 'string' }, { type: 'null' }] },
            },
          },
        },
      },
    },
    async (request) => {
      const { app } = request.params;
      await getApp(store, app);
      for (const [name, value] of Object.entries(request.body.values)) {
        if (value === null) await store.delete(keys.secret(app, name));
        else await setSecret(store, box, app, name, value);
      }
      return list(store, app);
    },
  );

  api.post<{ Params: { app: string; name: string }; Body: { value: string } }>(
    '/v1/apps/:app/secrets/:name',
    {
      schema: {
        summary: 'Set one secret',
        returns: 'Secret',
        returnsStatus: 201,
        params: nameParams,
        body: { type: 'object', required: ['value'], properties: { value: { type: 'string' } } },
      },
    },
    async (request, reply) => {
      await getApp(store, request.params.app);
      const record = await setSecret(store, box, request.params.app, request.params.name, request.body.value);
      return reply.code(201).send(view(record));
    },
  );

  api.delete<{ Params: { app: string; name: string } }>(
    '/v1/apps/:app/secrets/:name',
    { schema: { summary: 'Unset one secret', returns: 'Ok', params: nameParams } },
    async (request) => {
      const { app, name } = request.params;
      await getApp(store, app);
      if (!(await store.delete(keys.secret(app, name)))) throw apiErrors.secretNotFound(app, name);
      return { ok: true };
    },
  );

  // Values leave the API only for the agents that put them into machines: on one host the agent
  // opens them itself; on other hosts it asks here with a host token (the key stays with the API).
  api.get<{ Params: { app: string } }>(
    '/v1/apps/:app/secret-values',
    {
      schema: {
        summary:
          "The app's secret values, for the host agents that run its machines (host and admin tokens only)",
        returns: 'SecretValues',
        params: appParams,
      },
    },
    async (request) => {
      if (request.token.kind !== 'host' && request.token.kind !== 'admin')
        throw apiErrors.forbidden('only a host token (or the admin) may read secret values');
      const { app } = request.params;
      await getApp(store, app);
      const sealed = await values<SecretRecord>(store, keys.secrets(app));
      return {
        values: Object.fromEntries(sealed.map((s) => [s.name, box.open(s.sealed, secretAad(app, s.name))])),
      };
    },
  );
}
