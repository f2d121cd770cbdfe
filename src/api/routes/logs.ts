/** `GET /v1/apps/{app}/logs`: past lines, then (with `follow=true`) new ones, as NDJSON. */
import type { FastifyInstance } from 'fastify';
import { type LogLine, subjects } from '../../model/mod.ts';
import { type ControlPlane, getApp } from '../machines.ts';

export function logRoutes(api: FastifyInstance, cp: ControlPlane): void {
  api.get<{ Params: { app: string }; Querystring: { follow?: string; machine?: string; tail?: string } }>(
    '/v1/apps/:app/logs',
    async (request, reply) => {
      await getApp(cp.store, request.params.app);
      const controller = new AbortController();
      request.raw.on('close', () => controller.abort());
      // A follower must not keep the server from shutting down.
      cp.shutdown?.addEventListener('abort', () => controller.abort(), { once: true });
      const follow = request.query.follow === 'true';
      const tail = Math.min(Number(request.query.tail ?? 100) || 100, 10_000);
      reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      reply.raw.flushHeaders();
      for await (const message of cp.store.read<LogLine>(subjects.appLogs(request.params.app), {
        follow,
        tail,
        signal: controller.signal,
      })) {
        if (request.query.machine && message.data.machine !== request.query.machine) continue;
        reply.raw.write(`${JSON.stringify(message.data)}\n`);
      }
      reply.raw.end();
      return reply;
    },
  );
}
