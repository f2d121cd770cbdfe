/**
 * `GET /v1/apps/{app}/live`: one server-sent events stream for what a dashboard shows live: the
 * app's machines (sent whole, again whenever one of them or its status changes), what the edge
 * proxies saw of them (`activity`), its traffic by route from the proxies' demand records
 * (`traffic`), its app events (`app-event`: autoscaling, budget) and its log lines.
 * The contract is in docs/dashboard.md.
 */
import type { FastifyInstance } from 'fastify';
import {
  type AppEvent,
  type DemandRecord,
  keys,
  type LogLine,
  type MachineActivityRecord,
  subjects,
} from '../../model/mod.ts';
import { appActivity } from '../live-activity.ts';
import { appTraffic } from '../live-traffic.ts';
import { type ControlPlane, getApp, listRecords, viewOf } from '../machines.ts';
import { appParams } from '../schemas.ts';

/** Changes closer together than this are sent as one `machines` event. */
const COALESCE_MS = 200;
/** A comment line this often keeps proxies from closing an idle stream, and finds closed clients. */
const PING_MS = 15_000;
/** Traffic is computed again this often, so routes whose proxies stopped writing fall to nothing. */
const TRAFFIC_MS = 2_000;
/** App events sent when the stream opens. */
const EVENTS_TAIL = 100;

export function liveRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;
  api.get<{ Params: { app: string }; Querystring: { tail?: string; follow?: string } }>(
    '/v1/apps/:app/live',
    {
      schema: {
        summary: "Server-sent events: the app's machines whenever they change, and its log lines",
        params: appParams,
        querystring: {
          type: 'object',
          properties: {
            tail: { type: 'string', pattern: '^[0-9]{1,4}$' },
            follow: { type: 'string', enum: ['true', 'false'] },
          },
        },
      },
    },
    async (request, reply) => {
      const { app } = request.params;
      await getApp(store, app);
      const controller = new AbortController();
      const { signal } = controller;
      // The response's close is the client going away, however its request ended.
      reply.raw.on('close', () => controller.abort());
      // A follower must not keep the server from shutting down.
      cp.shutdown?.addEventListener('abort', () => controller.abort(), { once: true });
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
      reply.raw.flushHeaders();
      const send = (event: string, data: unknown) => {
        if (!signal.aborted) reply.raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };
      const ping = setInterval(() => reply.raw.write(': ping\n\n'), PING_MS);

      let ids = new Set<string>();
      let timer: NodeJS.Timeout | undefined;
      const sendMachines = async () => {
        timer = undefined;
        const records = await listRecords(store, app);
        ids = new Set(records.map((r) => r.id));
        send('machines', await Promise.all(records.map((r) => viewOf(store, r))));
      };
      const changed = () => {
        timer ??= setTimeout(
          () => void sendMachines().catch((error) => request.log.warn({ err: error })),
          COALESCE_MS,
        );
      };
      const after = await store.revision();
      await sendMachines();
      // `follow=false`: what there is now (machines, activity, traffic, the last events and log lines), then the end.
      const follow = request.query.follow !== 'false';

      const watchRecords = async () => {
        if (!follow) return;
        for await (const _event of store.watch(keys.machines(app), { afterRevision: after, signal }))
          changed();
      };
      const watchStatuses = async () => {
        if (!follow) return;
        for await (const event of store.watch(keys.machineStatuses(), { afterRevision: after, signal })) {
          if (ids.has(event.type === 'synced' ? '' : (event.key.split('/').pop() ?? ''))) changed();
        }
      };
      // The proxies rewrite their records every few seconds: an `activity` event only when this app's part changed.
      const activity = new Map<string, MachineActivityRecord>();
      let lastActivity = '';
      const sendActivity = () => {
        const current = appActivity(activity.values(), app, ids);
        const text = JSON.stringify(current);
        if (text !== lastActivity) send('activity', current);
        lastActivity = text;
      };
      const watchActivity = async () => {
        if (!follow) {
          for (const entry of await store.list<MachineActivityRecord>(keys.machineActivities()))
            activity.set(entry.key, entry.value);
          return sendActivity();
        }
        let synced = false;
        for await (const event of store.watch<MachineActivityRecord>(keys.machineActivities(), { signal })) {
          if (event.type === 'synced') synced = true;
          else if (event.type === 'put') activity.set(event.key, event.value);
          else activity.delete(event.key);
          if (synced) sendActivity();
        }
      };
      // The proxies write demand only for an app with traffic: recomputed on a timer as well, so it ends.
      const demand = new Map<string, DemandRecord>();
      let lastTraffic = '';
      const sendTraffic = () => {
        const routes = appTraffic(demand.values(), Date.now());
        const text = JSON.stringify(routes);
        if (text !== lastTraffic) send('traffic', { at: new Date().toISOString(), routes });
        lastTraffic = text;
      };
      const watchTraffic = async () => {
        if (!follow) {
          for (const entry of await store.list<DemandRecord>(keys.demands(app)))
            demand.set(entry.key, entry.value);
          return sendTraffic();
        }
        let synced = false;
        const tick = setInterval(() => synced && sendTraffic(), TRAFFIC_MS);
        try {
          for await (const event of store.watch<DemandRecord>(keys.demands(app), { signal })) {
            if (event.type === 'synced') synced = true;
            else if (event.type === 'put') demand.set(event.key, event.value);
            else demand.delete(event.key);
            if (synced) sendTraffic();
          }
        } finally {
          clearInterval(tick);
        }
      };
      const followEvents = async () => {
        for await (const message of store.read<AppEvent>(subjects.appEvents(app), {
          follow,
          tail: EVENTS_TAIL,
          signal,
        })) {
          send('app-event', message.data);
        }
      };
      const followLogs = async () => {
        const tail = Number(request.query.tail ?? 50);
        for await (const message of store.read<LogLine>(subjects.appLogs(app), {
          follow,
          tail,
          signal,
        })) {
          send('log', message.data);
        }
      };
      const ended = (error: unknown) => {
        if (!signal.aborted) request.log.warn({ err: error }, 'live stream stopped');
        controller.abort();
      };
      await Promise.all([
        watchRecords().catch(ended),
        watchStatuses().catch(ended),
        watchActivity().catch(ended),
        watchTraffic().catch(ended),
        followEvents().catch(ended),
        followLogs().catch(ended),
      ]);
      clearInterval(ping);
      clearTimeout(timer);
      reply.raw.end();
      return reply;
    },
  );
}
