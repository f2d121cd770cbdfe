/**
 * `GET /v1/apps/{app}/logs` (machine output) and `GET /v1/apps/{app}/events` (what the platform
 * did to the app: autoscaling, budget): past messages, then (with `follow=true`) new ones, as NDJSON.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { type AppEvent, type LogLine, subjects } from '../../model/mod.ts';
import { type ControlPlane, getApp } from '../machines.ts';

type StreamRequest = FastifyRequest<{
  Params: { app: string };
  Querystring: { follow?: string; machine?: string; tail?: string };
}>;

async function streamNdjson<T>(
  cp: ControlPlane,
  request: StreamRequest,
  reply: FastifyReply,
  subjectPrefix: string,
  keep: (data: T) => boolean = () => true,
): Promise<FastifyReply> {
  await getApp(cp.store, request.params.app);
  const controller = new AbortController();
  request.raw.on('close', () => controller.abort());
  // A follower must not keep the server from shutting down.
  cp.shutdown?.addEventListener('abort', () => controller.abort(), { once: true });
  const follow = request.query.follow === 'true';
  const tail = Math.min(Number(request.query.tail ?? 100) || 100, 10_000);
  reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  reply.raw.flushHeaders();
  for await (const message of cp.store.read<T>(subjectPrefix, { follow, tail, signal: controller.signal })) {
    if (keep(message.data)) reply.raw.write(`${JSON.stringify(message.data)}\n`);
  }
  reply.raw.end();
  return reply;
}

export function logRoutes(api: FastifyInstance, cp: ControlPlane): void {
  api.get('/v1/apps/:app/logs', (request: StreamRequest, reply) =>
    streamNdjson<LogLine>(
      cp,
      request,
      reply,
      subjects.appLogs(request.params.app),
      (line) => !request.query.machine || line.machine === request.query.machine,
    ),
  );
  api.get('/v1/apps/:app/events', (request: StreamRequest, reply) =>
    streamNdjson<AppEvent>(cp, request, reply, subjects.appEvents(request.params.app)),
  );
}
