/**
 * The web dashboard's files (src/web, built by scripts/build-web.sh into dist/web), served by the
 * API at `/`: any GET outside `/v1/` that is not a file gets the app's index.html, so its own
 * paths (`/apps/hello`) load it. The page is public; everything it shows comes from `/v1/` with a
 * token. One Content-Security-Policy: scripts, styles, images and calls from this origin only.
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const dashboardDir = resolve(import.meta.dirname, '..', '..', 'dist', 'web');

const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** Whether a request is for the dashboard (and so needs no token): a GET or HEAD outside the API. */
export function isDashboardRequest(request: FastifyRequest): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  const path = request.url.split('?')[0];
  return path !== '/v1' && !path.startsWith('/v1/') && path !== '/health';
}

/** Answers a dashboard request from `dir`; false when `dir` holds no build. */
export async function serveDashboard(
  request: FastifyRequest,
  reply: FastifyReply,
  dir = dashboardDir,
): Promise<boolean> {
  const path = decodeURIComponent(request.url.split('?')[0]);
  const wanted = resolve(dir, `.${path}`);
  const file =
    wanted.startsWith(dir + sep) && (await stat(wanted).catch(() => undefined))?.isFile()
      ? wanted
      : join(dir, 'index.html');
  const body = await readFile(file).catch(() => undefined);
  if (!body) return false;
  // Vite names assets by their content: they never change; index.html names the current ones.
  const immutable = file.startsWith(join(dir, 'assets') + sep);
  await reply
    .header('content-type', CONTENT_TYPES[extname(file)] ?? 'application/octet-stream')
    .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .send(body);
  return true;
}
