/**
 * Every error the API answers, in one shape: `{"error": message, "code": CODE, "hint"?: text}`
 * with nearby's codes (src/api/errors.ts). This covers the routes' own errors, the framework's
 * (bad JSON, unknown media type, body too large, bad URL, schema validation), unknown endpoints
 * (404, or 405 with `Allow` when the path exists for other methods) and malformed HTTP.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { NearbyError } from '../errors.ts';
import { isDashboardRequest, serveDashboard } from './dashboard.ts';
import { apiErrors, toApiError } from './errors.ts';

interface RouteMethod {
  method: string;
  url: string;
}

function send(reply: FastifyReply, error: NearbyError) {
  return reply.code(error.status).send({ error: error.message, code: error.code, hint: error.hint });
}

/** Installs the error and not-found handlers; `routes` is the route table (see collectRoutes). */
export function replyWithApiErrors(api: FastifyInstance, routes: readonly RouteMethod[]): void {
  api.setErrorHandler((error: FastifyError, request, reply) => {
    const answer = toApiError(error);
    if (answer.status >= 500) request.log.error({ err: error }, answer.message);
    return send(reply, answer);
  });
  api.setNotFoundHandler(async (request, reply) => {
    if (isDashboardRequest(request)) {
      if (await serveDashboard(request, reply)) return reply;
      return send(reply, apiErrors.dashboardNotBuilt());
    }
    const path = request.url.split('?')[0];
    const allowed = allowedMethods(routes, path);
    if (allowed.length === 0) return send(reply, apiErrors.notFound(request.method, path));
    reply.header('allow', allowed.join(', '));
    return send(reply, apiErrors.methodNotAllowed(request.method, path, allowed));
  });
}

/** The methods other routes answer on this concrete path (`GET, HEAD, DELETE`). */
function allowedMethods(routes: readonly RouteMethod[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    const escaped = route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const pattern = new RegExp(`^${escaped.replace(/:[A-Za-z_]+/g, '[^/]+')}/?$`);
    if (!pattern.test(path)) continue;
    const method = route.method.toUpperCase();
    methods.add(method);
    if (method === 'GET') methods.add('HEAD');
  }
  return [...methods];
}

/** For fastify's `frameworkErrors`: errors raised before a route is found (a URL that does not decode). */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply) {
  return send(reply, toApiError(error));
}

/** For fastify's `clientErrorHandler`: a request that is not valid HTTP still gets nearby's shape. */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? apiErrors.requestTimeout()
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? apiErrors.headersTooLarge()
        : apiErrors.badRequest('the request is not valid HTTP/1.1');
  const { status } = answer;
  const body = JSON.stringify({ error: answer.message, code: answer.code });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
