/**
 * `/v1/apps/{app}/volumes`: create (empty, from a snapshot, or forked), list, get, extend,
 * destroy, and snapshots — the Machines API's shape. The volume's agent does the work.
 */
import type { FastifyInstance } from 'fastify';
import type { ControlPlane } from '../machines.ts';
import { appParams } from '../schemas.ts';
import {
  type CreateVolumeInput,
  createSnapshot,
  createVolume,
  destroyVolume,
  extendVolume,
  getVolume,
  listSnapshots,
  listVolumes,
  viewSnapshot,
  viewVolume,
} from '../volumes.ts';

type VolumeParams = { Params: { app: string; id: string } };

const volumeParams = {
  type: 'object',
  required: ['app', 'id'],
  properties: {
    app: { type: 'string', pattern: '^[a-z][a-z0-9-]{1,62}$' },
    id: { type: 'string', pattern: '^vol_[a-z0-9]{1,40}$' },
  },
} as const;

const createVolumeSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string' },
    region: { type: 'string', pattern: '^[a-z0-9-]{2,32}$' },
    size_gb: { type: 'integer' },
    snapshot_id: { type: 'string', pattern: '^vs_[a-z0-9]{1,40}$' },
    source_volume_id: { type: 'string', pattern: '^vol_[a-z0-9]{1,40}$' },
    encrypted: { type: 'boolean', description: 'accepted for compatibility; volumes are not encrypted' },
  },
} as const;

const extendSchema = {
  type: 'object',
  required: ['size_gb'],
  properties: { size_gb: { type: 'integer', minimum: 1 } },
} as const;

export function volumeRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  api.get<{ Params: { app: string } }>(
    '/v1/apps/:app/volumes',
    { schema: { summary: "List an app's volumes", returns: 'VolumeList', params: appParams } },
    async (request) => listVolumes(store, request.params.app),
  );

  api.post<{ Params: { app: string }; Body: CreateVolumeInput }>(
    '/v1/apps/:app/volumes',
    {
      schema: {
        summary: 'Create a volume (empty, from snapshot_id, or a copy of source_volume_id)',
        returns: 'Volume',
        params: appParams,
        body: createVolumeSchema,
      },
    },
    async (request) =>
      viewVolume(store, await createVolume(store, request.params.app, request.body, cp.defaultRegion)),
  );

  api.get<VolumeParams>(
    '/v1/apps/:app/volumes/:id',
    { schema: { summary: 'Get a volume', returns: 'Volume', params: volumeParams } },
    async (request) => getVolume(store, request.params.app, request.params.id),
  );

  api.put<VolumeParams & { Body: { size_gb: number } }>(
    '/v1/apps/:app/volumes/:id/extend',
    {
      schema: {
        summary: 'Grow a volume to size_gb (online when the host allows, else at the next start)',
        returns: 'VolumeExtend',
        params: volumeParams,
        body: extendSchema,
      },
    },
    async (request) => {
      const record = await extendVolume(store, request.params.app, request.params.id, request.body.size_gb);
      const volume = await viewVolume(store, record);
      return { volume, needs_restart: volume.attached_machine_id !== null };
    },
  );

  api.delete<VolumeParams>(
    '/v1/apps/:app/volumes/:id',
    {
      schema: {
        summary: 'Destroy a volume (refused while a machine has it attached)',
        returns: 'Volume',
        params: volumeParams,
      },
    },
    async (request) => {
      await destroyVolume(store, request.params.app, request.params.id);
      return getVolume(store, request.params.app, request.params.id);
    },
  );

  api.get<VolumeParams>(
    '/v1/apps/:app/volumes/:id/snapshots',
    { schema: { summary: "List a volume's snapshots", returns: 'SnapshotList', params: volumeParams } },
    async (request) => listSnapshots(store, request.params.app, request.params.id),
  );

  api.post<VolumeParams>(
    '/v1/apps/:app/volumes/:id/snapshots',
    {
      schema: {
        summary: 'Take a snapshot of a volume (a consistent copy)',
        returns: 'Snapshot',
        params: volumeParams,
      },
    },
    async (request) =>
      viewSnapshot(store, await createSnapshot(store, request.params.app, request.params.id)),
  );
}
