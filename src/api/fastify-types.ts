/** What nearby adds to fastify's types: the caller's token on each request, docs on each route. */
import type { TokenRecord } from '../model/mod.ts';
import type { ResponseName } from './response-schemas.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook before any handler runs. */
    token: TokenRecord;
  }
  interface FastifySchema {
    summary?: string;
    description?: string;
    /** The shape of a success, for the OpenAPI document (`src/api/response-schemas.ts`). */
    returns?: ResponseName;
    /** Its status, when not 200. */
    returnsStatus?: number;
  }
}
