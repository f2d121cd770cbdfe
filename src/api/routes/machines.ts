/** `/v1/apps/{app}/machines`: the Machines API surface the spine needs. */
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
import { createMachineSchema, stopMachineSchema, updateMachineSchema } from '../schemas.ts';
import { waitForState } from '../wait.ts';

type AppParams = { Params: { app: string } };
type MachineParams = { Params: { app: string; id: string } };
const waitableStates = new Set<MachineState>(['started', 'stopped', 'suspended', 'destroyed']);

export function machineRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  api.get<AppParams & { Querystring: { include_deleted?: string; region?: string } }>(
    '/v1/apps/:app/machines',
    async (request) => {
      await getApp(store, request.params.app);
      const records = await listRecords(store, request.params.app, request.query.include_deleted === 'true');
      const views = await Promise.all(records.map((record) => viewOf(store, record)));
      return views.filter((view) => !request.query.region || view.region === request.query.region);
    },
  );

  api.post<AppParams & { Body: CreateMachineInput }>(
    '/v1/apps/:app/machines',
    { schema: { body: createMachineSchema } },
    async (request) => viewOf(store, await createMachine(cp, request.params.app, request.body)),
  );

  api.get<MachineParams>('/v1/apps/:app/machines/:id', async (request) =>
    viewOf(store, await getRecord(store, request.params.app, request.params.id)),
  );

  api.post<MachineParams & { Body: CreateMachineInput & { current_version?: string } }>(
    '/v1/apps/:app/machines/:id',
    { schema: { body: updateMachineSchema } },
    async (request) =>
      viewOf(store, await updateMachine(cp, request.params.app, request.params.id, request.body)),
  );

  api.post<MachineParams>('/v1/apps/:app/machines/:id/start', async (request) => ({
    previous_state: await startMachine(cp, request.params.app, request.params.id),
  }));

  api.post<MachineParams & { Body: { signal?: string; timeout?: string | number } | null }>(
    '/v1/apps/:app/machines/:id/stop',
    { schema: { body: stopMachineSchema } },
    async (request) => {
      await stopMachine(cp, request.params.app, request.params.id, request.body ?? {});
      return { ok: true };
    },
  );

  api.delete<MachineParams & { Querystring: { force?: string } }>(
    '/v1/apps/:app/machines/:id',
    async (request) => {
      await destroyMachine(cp, request.params.app, request.params.id, request.query.force === 'true');
      return { ok: true };
    },
  );

  api.get<MachineParams & { Querystring: { state?: string; timeout?: string; instance_id?: string } }>(
    '/v1/apps/:app/machines/:id/wait',
    async (request) => {
      const state = (request.query.state ?? 'started') as MachineState;
      if (!waitableStates.has(state)) {
        throw apiErrors.badRequest(
          `state: '${state}' cannot be waited for; use started, stopped, suspended or destroyed`,
        );
      }
      const timeout = Number(request.query.timeout ?? 60);
      if (!Number.isInteger(timeout) || timeout < 1 || timeout > 60) {
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
      await waitForState(store, record, state, timeout * 1000, {
        instanceId: request.query.instance_id,
        signal: cp.shutdown,
      });
      return { ok: true };
    },
  );
}
