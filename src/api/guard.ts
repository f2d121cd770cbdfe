/**
 * Per-request checks after authentication: the caller may only reach apps it can see (others
 * answer 404, as if they did not exist), and stays within its rate limits (429 + Retry-After).
 * The admin token (the operator on the server host) is not rate limited: limits protect the
 * platform from its tenants, and benchmarks drive machines faster than any tenant should.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AppRecord, keys } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { canAccessApp } from './auth.ts';
import { apiErrors } from './errors.ts';
import { DEFAULT_LIMITS, parseLimit, RateLimiter } from './rate-limit.ts';

export type Guard = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** All a host token may call: where the registry is, secrets for its machines, and scale to zero. */
const HOST_ROUTES = new Set([
  'GET /v1/registry',
  'GET /v1/apps/:app/secret-values',
  'POST /v1/apps/:app/machines/:id/start',
  'POST /v1/apps/:app/machines/:id/stop',
  'POST /v1/apps/:app/machines/:id/suspend',
]);

/** The API's rate limiters, from `NEARBY_RATE_LIMIT_TOKEN` and `NEARBY_RATE_LIMIT_MACHINE`. */
export interface ApiLimiters {
  token: RateLimiter;
  machine: RateLimiter;
}

export function apiLimiters(env: NodeJS.ProcessEnv = process.env): ApiLimiters {
  return {
    token: new RateLimiter(parseLimit(env.NEARBY_RATE_LIMIT_TOKEN, DEFAULT_LIMITS.token)),
    machine: new RateLimiter(parseLimit(env.NEARBY_RATE_LIMIT_MACHINE, DEFAULT_LIMITS.machine)),
  };
}

export function createGuard(store: Store, limiters: ApiLimiters = apiLimiters()): Guard {
  const { token: perToken, machine: perMachine } = limiters;

  return async (request, reply) => {
    const params = (request.params ?? {}) as { app?: string; id?: string };
    if (request.token.kind === 'host' && !HOST_ROUTES.has(`${request.method} ${request.routeOptions.url}`)) {
      throw apiErrors.forbidden(
        'a host token may only pull images, read secrets for machines, and start, stop or suspend machines',
      );
    }
    // Limits protect the platform from tenants: neither the operator nor the hosts acting for every tenant.
    const rateLimited = request.token.kind !== 'admin' && request.token.kind !== 'host';
    const refuse = (wait: number, what: string) => {
      reply.header('retry-after', String(wait));
      return apiErrors.rateLimited(what, wait);
    };
    const tokenWait = rateLimited ? perToken.take(request.token.id) : 0;
    if (tokenWait) throw refuse(tokenWait, 'this token');
    if (params.app) {
      const app = (await store.get<AppRecord>(keys.app(params.app)))?.value;
      // An app the token may not see answers exactly like an app that does not exist.
      if (app && !canAccessApp(request.token, app)) throw apiErrors.appNotFound(params.app);
      if (!app && request.token.kind === 'deploy' && request.token.app !== params.app) {
        throw apiErrors.appNotFound(params.app);
      }
    }
    const onMachine =
      params.app && params.id && request.routeOptions.url?.startsWith('/v1/apps/:app/machines/:id');
    if (rateLimited && onMachine) {
      const machineWait = perMachine.take(`${params.app}/${params.id}`);
      if (machineWait) throw refuse(machineWait, `machine ${params.id}`);
    }
  };
}
