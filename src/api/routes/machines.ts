/** `/v1/apps/{app}/machines`: create, list, get, update, start, stop, destroy, wait. */
import type { FastifyInstance } from 'fastify';
import type { MachineState } from '../../model/mod.ts';
import { apiErrors } from '../errors.ts';
import {
  type ControlPlane,
  type CreateMachineInput,
  createMachine,
  destroyMachine,
  getApp,
  getRecord,
  listRecords,
  startMachine,
  stopMachine,
  updateMachine,
  viewOf,
} from '../machines.ts';
import {
  type ActionReason,
  actionReasonQuery,
  appMachineParams,
  appParams,
  createMachineSchema,
  destroyQuery,
  listMachinesQuery,
  stopMachineSchema,
  updateMachineSchema,
  waitQuery,
} from '../schemas.ts';
import { waitForState } from '../wait.ts';

type AppParams = { Params: { app: string } };
type MachineParams = { Params: { app: string; id: string } };
const yes = (value: string | undefined) => value === 'true' || value === '1';

export function machineRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  api.get<AppParams & { Querystring: Record<string, string | undefined> }>(
    '/v1/apps/:app/machines',
    {
      schema: {
        summary: "List an app's machines (filter with region= and metadata.KEY=VALUE)",
        returns: 'MachineList',
        params: appParams,
        querystring: listMachinesQuery,
      },
    },
    async (request) => {
      await getApp(store, request.params.app);
      const query = request.query;
      const records = await listRecords(store, request.params.app, yes(query.include_deleted));
      const wanted = Object.entries(query)
        .filter(([key]) => key.startsWith('metadata.'))
        .map(([key, value]) => [key.slice('metadata.'.length), value] as const);
      const matching = records.filter(
        (record) =>
          (!query.region || record.region === query.region) &&
          wanted.every(([key, value]) => record.config.metadata?.[key] === value),
      );
      return Promise.all(matching.map((record) => viewOf(store, record)));
    },
  );

  api.post<AppParams & { Body: CreateMachineInput }>(
    '/v1/apps/:app/machines',
    {
      schema: {
        summary: 'Create (and by default start) a machine',
        returns: 'Machine',
        params: appParams,
        body: createMachineSchema,
      },
    },
    async (request) => {
      const record = await createMachine(cp, request.params.app, request.body, request.token.name);
      const view = await viewOf(store, record);
      // The Machines API hands the creator its lease nonce with the machine.
      return record.lease ? { ...view, nonce: record.lease.nonce } : view;
    },
  );

  api.get<MachineParams>(
    '/v1/apps/:app/machines/:id',
    { schema: { summary: 'Get a machine', returns: 'Machine', params: appMachineParams } },
    async (request) => viewOf(store, await getRecord(store, request.params.app, request.params.id)),
  );

  api.post<MachineParams & { Body: CreateMachineInput & { current_version?: string } }>(
    '/v1/apps/:app/machines/:id',
    {
      schema: {
        summary: 'Update a machine: a new version (instance_id) with the whole new config',
        returns: 'Machine',
        params: appMachineParams,
        body: updateMachineSchema,
      },
    },
    async (request) =>
      viewOf(store, await updateMachine(cp, request.params.app, request.params.id, request.body)),
  );

  api.post<MachineParams & { Querystring: { reason?: ActionReason } }>(
    '/v1/apps/:app/machines/:id/start',
    {
      schema: {
        summary: 'Start a stopped or suspended machine',
        params: appMachineParams,
        querystring: actionReasonQuery,
        returns: 'StartResult',
      },
    },
    async (request) => ({
      previous_state: await startMachine(cp, request.params.app, request.params.id, request.query.reason),
    }),
  );

  api.post<
    MachineParams & {
      Body: { signal?: string; timeout?: string | number } | null;
      Querystring: { reason?: ActionReason };
    }
  >(
    '/v1/apps/:app/machines/:id/stop',
    {
      schema: {
        summary: 'Stop a machine',
        returns: 'Ok',
        params: appMachineParams,
        querystring: actionReasonQuery,
        body: stopMachineSchema,
      },
    },
    async (request) => {
      await stopMachine(cp, request.params.app, request.params.id, {
        ...request.body,
        reason: request.query.reason,
      });
      return { ok: true };
    },
  );

  api.delete<MachineParams & { Querystring: { force?: string; kill?: string } }>(
    '/v1/apps/:app/machines/:id',
    {
      schema: {
        summary: 'Destroy a machine (force=true for a running one)',
        returns: 'Ok',
        params: appMachineParams,
        querystring: destroyQuery,
      },
    },
    async (request) => {
      await destroyMachine(cp, request.params.app, request.params.id, yes(request.query.force));
      return { ok: true };
    },
  );

  api.get<MachineParams & { Querystring: { state?: MachineState; timeout?: string; instance_id?: string } }>(
    '/v1/apps/:app/machines/:id/wait',
    {
      schema: {
        summary: 'Wait until a machine (or one version of it) reaches a state; timeout at most 60 s',
        returns: 'Ok',
        params: appMachineParams,
        querystring: waitQuery,
      },
    },
    async (request) => {
      const state = request.query.state ?? 'started';
      const timeout = Number(request.query.timeout ?? 60);
      if (timeout < 1 || timeout > 60) {
        throw apiErrors.badRequest(
          `timeout: expected whole seconds from 1 to 60, got '${request.query.timeout}'`,
        );
      }
      const record = await getRecord(store, request.params.app, request.params.id).catch((error) => {
        // A destroyed machine's record is gone from lists but waiting for "destroyed" must still succeed.
        if (state === 'destroyed') return undefined;
        throw error;
      });
      if (!record) return { ok: true };
      const version = request.query.instance_id;
      if (version && record.previous_versions?.some((v) => v.instance_id === version)) {
        // A replaced version no longer runs: it is as stopped (and gone) as it will ever be.
        if (state === 'stopped' || state === 'destroyed') return { ok: true, state: 'replaced' };
        throw apiErrors.machineState(
          record.id,
          `past version ${version}`,
          `it was replaced and will not be ${state}`,
        );
      }
      await waitForState(store, record, state, timeout * 1000, { instanceId: version, signal: cp.shutdown });
      return { ok: true };
    },
  );
}
