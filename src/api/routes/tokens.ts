/**
 * Tokens: `POST /v1/apps/{app}/deploy_token` (one app), `POST /v1/tokens` (an org), list, revoke.
 * A token is shown once, when made; the store keeps its SHA-256 only.
 */
import type { FastifyInstance } from 'fastify';
import { keys, parseDurationMs, type TokenRecord } from '../../model/mod.ts';
import { values } from '../../store/mod.ts';
import { canManageOrg, canSeeToken, issueToken } from '../auth.ts';
import { apiErrors } from '../errors.ts';
import { type ControlPlane, getApp } from '../machines.ts';
import { appParams } from '../schemas.ts';

const view = ({ sha256, ...fields }: TokenRecord) => fields;

const tokenFields = {
  name: { type: 'string', maxLength: 100 },
  expiry: { type: 'string', description: 'how long it lives, e.g. "720h" (default: until revoked)' },
} as const;

function expiresAt(expiry: string | undefined): string | undefined {
  if (expiry === undefined) return undefined;
  const ms = parseDurationMs(expiry);
  if (!ms) throw apiErrors.badRequest(`body.expiry: '${expiry}' is not a duration (use e.g. "720h")`);
  return new Date(Date.now() + ms).toISOString();
}

export function tokenRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  api.post<{ Params: { app: string }; Body: { name?: string; expiry?: string } | null }>(
    '/v1/apps/:app/deploy_token',
    {
      schema: {
        summary: 'Make a deploy token: it can act on this app only',
        returns: 'Token',
        returnsStatus: 201,
        params: appParams,
        body: { anyOf: [{ type: 'null' }, { type: 'object', properties: tokenFields }] },
      },
    },
    async (request, reply) => {
      const app = await getApp(store, request.params.app);
      if (!canManageOrg(request.token, app.org_slug)) {
        throw apiErrors.forbidden('a deploy token cannot make tokens; use an org token');
      }
      const { record, secret } = await issueToken(store, {
        kind: 'deploy',
        name: request.body?.name ?? `deploy ${app.name}`,
        org_slug: app.org_slug,
        app: app.name,
        expires_at: expiresAt(request.body?.expiry),
      });
      return reply.code(201).send({ ...view(record), token: secret });
    },
  );

  api.post<{ Body: { org_slug?: string; name?: string; expiry?: string } }>(
    '/v1/tokens',
    {
      schema: {
        summary: "Make an org token: it can act on every app of the org (the caller's org by default)",
        returns: 'Token',
        returnsStatus: 201,
        body: { type: 'object', properties: { org_slug: { type: 'string', minLength: 1 }, ...tokenFields } },
      },
    },
    async (request, reply) => {
      const org = request.body.org_slug ?? request.token.org_slug ?? 'personal';
      if (!canManageOrg(request.token, org)) {
        throw apiErrors.forbidden(`this token cannot make tokens for org '${org}'`);
      }
      const { record, secret } = await issueToken(store, {
        kind: 'org',
        name: request.body.name ?? `org ${org}`,
        org_slug: org,
        expires_at: expiresAt(request.body.expiry),
      });
      return reply.code(201).send({ ...view(record), token: secret });
    },
  );

  api.post<{ Body: { name?: string; expiry?: string } | null }>(
    '/v1/tokens/host',
    {
      schema: {
        summary:
          "Make a host token: what a host's agent and proxy need (pull images, start and stop machines)",
        returns: 'Token',
        returnsStatus: 201,
        body: { anyOf: [{ type: 'null' }, { type: 'object', properties: tokenFields }] },
      },
    },
    async (request, reply) => {
      if (request.token.kind !== 'admin')
        throw apiErrors.forbidden('only the admin token can make host tokens');
      const { record, secret } = await issueToken(store, {
        kind: 'host',
        name: request.body?.name ?? 'hosts',
        expires_at: expiresAt(request.body?.expiry),
      });
      return reply.code(201).send({ ...view(record), token: secret });
    },
  );

  api.get(
    '/v1/tokens',
    { schema: { summary: 'List the tokens the caller may see', returns: 'TokenList' } },
    async (request) => ({
      tokens: (await values<TokenRecord>(store, keys.tokens()))
        .filter((token) => canSeeToken(request.token, token))
        .map(view),
    }),
  );

  api.delete<{ Params: { id: string } }>(
    '/v1/tokens/:id',
    {
      schema: {
        summary: 'Revoke a token: it stops working at once',
        returns: 'Ok',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
      },
    },
    async (request) => {
      const entry = await store.get<TokenRecord>(keys.token(request.params.id));
      if (!entry || !canSeeToken(request.token, entry.value))
        throw apiErrors.tokenNotFound(request.params.id);
      const target = entry.value;
      if (target.kind === 'admin')
        throw apiErrors.forbidden('the admin token cannot be revoked through the API');
      if (!canManageOrg(request.token, target.org_slug ?? '')) {
        throw apiErrors.forbidden('only an org token (or the admin) can revoke tokens');
      }
      await store.delete(keys.token(target.id));
      return { ok: true };
    },
  );
}
