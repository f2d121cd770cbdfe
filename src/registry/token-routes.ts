/**
 * The registry's token service, `GET /v1/registry/token` (distribution's `auth: token` realm): HTTP
 * Basic with any user name and a nearby API token as password (Fly's `x:TOKEN`), or that token as
 * Bearer. Answers a short-lived JWT granting only what the token may do. `GET /v1/registry` tells
 * the CLI where the registry is.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { authenticate } from '../api/auth.ts';
import type { Store } from '../store/mod.ts';
import { type Grantee, grantAccess } from './access.ts';
import { registryErrors } from './errors.ts';
import { imageGuard } from './image-guard.ts';
import { signRegistryToken } from './jwt.ts';
import type { SigningKey } from './signing-key.ts';

export const TOKEN_PATH = '/v1/registry/token';
const TOKEN_TTL_SECONDS = 300;

export interface RegistryTokenService {
  /** `host:port` of the registry, as image references name it. */
  host: string;
  service: string;
  issuer: string;
  key: SigningKey;
  /** The password the server's own agents and control plane pull with. */
  internalSecret: string;
}

export function registryRoutes(api: FastifyInstance, store: Store, registry: RegistryTokenService): void {
  api.addHook('preHandler', imageGuard(store, registry.host));
  api.get(
    '/v1/registry',
    { schema: { summary: "Where nearby's registry is: push images to <host>/<app>:<tag>" } },
    async () => ({ host: registry.host, service: registry.service, token_realm: TOKEN_PATH }),
  );

  api.get<{ Querystring: { scope?: string | string[]; service?: string; account?: string } }>(
    TOKEN_PATH,
    {
      schema: {
        summary: 'Registry token (Basic auth: any user, a nearby API token as password)',
        querystring: {
          type: 'object',
          properties: {
            scope: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
            service: { type: 'string' },
            account: { type: 'string' },
          },
        },
      },
    },
    async (request, reply) => {
      const grantee = await identify(store, registry, request.headers.authorization).catch((error) => {
        reply.header('www-authenticate', 'Basic realm="nearby registry"');
        throw error;
      });
      const requested = [request.query.scope ?? []].flat().flatMap((scope) => scope.split(' '));
      const access = await grantAccess(store, grantee, requested.filter(Boolean));
      const subject =
        grantee.kind === 'internal' ? 'nearby-internal' : `${grantee.token.kind}:${grantee.token.id}`;
      const token = signRegistryToken(registry.key, {
        issuer: registry.issuer,
        service: registry.service,
        subject,
        access,
        ttlSeconds: TOKEN_TTL_SECONDS,
      });
      request.log.debug({ subject, requested, granted: access }, 'registry token issued');
      return {
        token,
        access_token: token,
        expires_in: TOKEN_TTL_SECONDS,
        issued_at: new Date().toISOString(),
      };
    },
  );
}

async function identify(
  store: Store,
  registry: RegistryTokenService,
  header: string | undefined,
): Promise<Grantee> {
  const secret = credentialSecret(header);
  if (!secret) throw registryErrors.noCredentials();
  const given = Buffer.from(secret);
  const internal = Buffer.from(registry.internalSecret);
  if (given.length === internal.length && timingSafeEqual(given, internal)) return { kind: 'internal' };
  return { kind: 'token', token: await authenticate(store, `Bearer ${secret}`) };
}

/** The password of `Basic base64(user:password)`, or the token of `Bearer token`. */
function credentialSecret(header: string | undefined): string | undefined {
  const basic = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) || undefined : undefined;
  }
  return /^(?:Bearer|FlyV1)\s+(\S+)$/i.exec(header ?? '')?.[1];
}
