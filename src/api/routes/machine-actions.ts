/** `/v1/apps/{app}/machines/{id}/…`: restart, suspend, signal, cordon, events, metadata, exec, ps. */
import type { FastifyInstance } from 'fastify';
import { splitShellWords } from '../../config/shell-words.ts';
import type { ExecReply, ProcessInfo } from '../../model/mod.ts';
import { askAgent } from '../agent-requests.ts';
import { apiErrors } from '../errors.ts';
import { changeMetadata, restartMachine, setCordoned, suspendMachine } from '../machine-actions.ts';
import { type ControlPlane, getRecord, viewOf } from '../machines.ts';
import {
  type ActionReason,
  actionReasonQuery,
  appMachineParams,
  execBody,
  metadataBody,
  metadataParams,
  restartQuery,
  signalBody,
} from '../schemas.ts';

type MachineParams = { Params: { app: string; id: string } };
const ok = { ok: true };
/** Extra time the agent gets beyond the command's own timeout before the API gives up. */
const AGENT_SLACK_MS = 10_000;

export function machineActionRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;
  const params = appMachineParams;

  api.post<MachineParams & { Querystring: { signal?: string; timeout?: string } }>(
    '/v1/apps/:app/machines/:id/restart',
    { schema: { summary: 'Restart a machine', returns: 'Ok', params, querystring: restartQuery } },
    async (request) => {
      await restartMachine(cp, request.params.app, request.params.id, request.query);
      return ok;
    },
  );

  api.post<MachineParams & { Querystring: { reason?: ActionReason } }>(
    '/v1/apps/:app/machines/:id/suspend',
    {
      schema: {
        summary: 'Suspend a started machine (its memory is kept)',
        returns: 'Ok',
        params,
        querystring: actionReasonQuery,
      },
    },
    async (request) => {
      await suspendMachine(cp, request.params.app, request.params.id, request.query.reason);
      return ok;
    },
  );

  api.post<MachineParams & { Body: { signal: string } }>(
    '/v1/apps/:app/machines/:id/signal',
    { schema: { summary: 'Send a signal to the main process', returns: 'Ok', params, body: signalBody } },
    async (request) => {
      const record = await getRecord(store, request.params.app, request.params.id);
      const signal = request.body.signal.startsWith('SIG')
        ? request.body.signal
        : `SIG${request.body.signal}`;
      await askAgent(store, record, { kind: 'signal', signal }, AGENT_SLACK_MS, cp.shutdown);
      return ok;
    },
  );

  for (const [verb, cordoned] of [
    ['cordon', true],
    ['uncordon', false],
  ] as const) {
    api.post<MachineParams>(
      `/v1/apps/:app/machines/:id/${verb}`,
      {
        schema: {
          summary: cordoned ? 'Take a machine out of the proxy (it keeps running)' : 'Route to it again',
          returns: 'Ok',
          params,
        },
      },
      async (request) => {
        await setCordoned(store, request.params.app, request.params.id, cordoned);
        return ok;
      },
    );
  }

  api.get<MachineParams & { Querystring: { limit?: string } }>(
    '/v1/apps/:app/machines/:id/events',
    {
      schema: {
        summary: 'Events of a machine, newest first',
        returns: 'Events',
        params,
        querystring: { type: 'object', properties: { limit: { type: 'string', pattern: '^[0-9]+$' } } },
      },
    },
    async (request) => {
      const view = await viewOf(store, await getRecord(store, request.params.app, request.params.id));
      const limit = Number(request.query.limit ?? view.events.length);
      return view.events.slice(0, limit).map((event) => ({
        id: `${event.timestamp.toString(36)}-${event.type}-${event.status}`,
        ...event,
      }));
    },
  );

  api.get<MachineParams>(
    '/v1/apps/:app/machines/:id/versions',
    { schema: { summary: 'Versions of a machine: the current one, then those it replaced', params } },
    async (request) => {
      const record = await getRecord(store, request.params.app, request.params.id);
      return [
        { version: record.instance_id, state: 'current', user_config: record.config },
        ...(record.previous_versions ?? []).map((v) => ({
          version: v.instance_id,
          state: 'replaced',
          replaced_at: v.replaced_at,
        })),
      ];
    },
  );

  api.get<MachineParams>(
    '/v1/apps/:app/machines/:id/metadata',
    { schema: { summary: "A machine's metadata", returns: 'Metadata', params } },
    async (request) => (await getRecord(store, request.params.app, request.params.id)).config.metadata ?? {},
  );

  api.post<{ Params: { app: string; id: string; key: string }; Body: { value: string } }>(
    '/v1/apps/:app/machines/:id/metadata/:key',
    {
      schema: {
        summary: 'Set one metadata key',
        returnsStatus: 204,
        params: metadataParams,
        body: metadataBody,
      },
    },
    async (request, reply) => {
      const { app, id, key } = request.params;
      await changeMetadata(store, app, id, key, request.body.value);
      return reply.code(204).send();
    },
  );

  api.delete<{ Params: { app: string; id: string; key: string } }>(
    '/v1/apps/:app/machines/:id/metadata/:key',
    { schema: { summary: 'Delete one metadata key', returnsStatus: 204, params: metadataParams } },
    async (request, reply) => {
      const { app, id, key } = request.params;
      await changeMetadata(store, app, id, key, undefined);
      return reply.code(204).send();
    },
  );

  api.post<MachineParams & { Body: { command?: string[]; cmd?: string; timeout?: number } }>(
    '/v1/apps/:app/machines/:id/exec',
    {
      schema: {
        summary: 'Run a command in a started machine',
        returns: 'ExecResult',
        params,
        body: execBody,
      },
    },
    async (request): Promise<ExecReply> => {
      const command = request.body.command ?? splitShellWords(request.body.cmd ?? '');
      if (!command || command.length === 0) {
        throw apiErrors.badRequest('body.command: give the command to run, e.g. {"command": ["ls", "/"]}');
      }
      const record = await getRecord(store, request.params.app, request.params.id);
      const timeoutMs = (request.body.timeout ?? 30) * 1000;
      return askAgent<ExecReply>(
        store,
        record,
        { kind: 'exec', command, timeout_ms: timeoutMs },
        timeoutMs + AGENT_SLACK_MS,
        cp.shutdown,
      );
    },
  );

  api.get<MachineParams>(
    '/v1/apps/:app/machines/:id/ps',
    { schema: { summary: 'Processes running in a machine', returns: 'Processes', params } },
    async (request) => {
      const record = await getRecord(store, request.params.app, request.params.id);
      return askAgent<ProcessInfo[]>(store, record, { kind: 'ps' }, AGENT_SLACK_MS, cp.shutdown);
    },
  );
}
