/**
 * Machine leases, as in the Machines API: one holder at a time; while a lease is live, every
 * change to the machine must carry its nonce in `fly-machine-lease-nonce`, others get 409.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { keys, type MachineLease, type MachineRecord } from '../model/mod.ts';
import { apiErrors } from './errors.ts';
import type { ControlPlane } from './machines.ts';
import { changeRecord, getRecord } from './machines.ts';
import { appMachineParams } from './schemas.ts';

export const LEASE_HEADER = 'fly-machine-lease-nonce';
const DEFAULT_TTL_S = 30;

export function newLease(record: MachineRecord, owner: string, ttlSeconds: number, description: string) {
  const lease: MachineLease = {
    nonce: randomBytes(12).toString('hex'),
    owner,
    description,
    expires_at: Math.floor(Date.now() / 1000) + ttlSeconds,
    version: record.instance_id,
  };
  return lease;
}

export const liveLease = (record: MachineRecord): MachineLease | undefined =>
  record.lease && record.lease.expires_at * 1000 > Date.now() ? record.lease : undefined;

const nonceOf = (request: FastifyRequest) => {
  const header = request.headers[LEASE_HEADER];
  return Array.isArray(header) ? header[0] : header;
};

/** Throws 409 when someone else holds a live lease on the machine. */
export function checkLease(record: MachineRecord, nonce: string | undefined): void {
  const lease = liveLease(record);
  if (lease && lease.nonce !== nonce) throw apiErrors.leased(record.id, lease.owner, lease.expires_at);
}

const leaseBody = {
  type: 'object',
  properties: {
    ttl: { type: 'integer', minimum: 1, maximum: 3600, description: 'seconds (default 30)' },
    description: { type: 'string', maxLength: 256 },
  },
} as const;

const view = (lease: MachineLease) => ({ status: 'success', data: lease });

type LeaseRoute = { Params: { app: string; id: string } };

export function leaseRoutes(api: FastifyInstance, cp: ControlPlane): void {
  const { store } = cp;

  // Every change to a machine (not reads, not the lease endpoints themselves) respects its lease.
  api.addHook('preHandler', async (request) => {
    const params = request.params as { app?: string; id?: string } | undefined;
    if (request.method === 'GET' || !params?.app || !params.id) return;
    if (!request.routeOptions.url?.startsWith('/v1/apps/:app/machines/:id')) return;
    if (request.routeOptions.url.endsWith('/lease')) return;
    const entry = await store.get<MachineRecord>(keys.machine(params.app, params.id));
    if (entry && !entry.value.destroyed_at) checkLease(entry.value, nonceOf(request));
  });

  api.post<LeaseRoute & { Body: { ttl?: number; description?: string } | null }>(
    '/v1/apps/:app/machines/:id/lease',
    {
      schema: {
        summary: 'Acquire (or, with the current nonce, refresh) the lease of a machine',
        returns: 'Lease',
        params: appMachineParams,
        body: { anyOf: [{ type: 'null' }, leaseBody] },
      },
    },
    async (request) => {
      const { app, id } = request.params;
      const ttl = request.body?.ttl ?? DEFAULT_TTL_S;
      const record = await changeRecord(store, app, id, (current) => {
        checkLease(current, nonceOf(request));
        const lease = newLease(current, request.token.name, ttl, request.body?.description ?? '');
        const held = liveLease(current);
        // Refreshing keeps the nonce the holder already uses.
        return { ...current, lease: held ? { ...lease, nonce: held.nonce } : lease };
      });
      return view(record.lease as MachineLease);
    },
  );

  api.get<LeaseRoute>(
    '/v1/apps/:app/machines/:id/lease',
    { schema: { summary: 'Show the lease of a machine', returns: 'Lease', params: appMachineParams } },
    async (request) => {
      const record = await getRecord(store, request.params.app, request.params.id);
      const lease = liveLease(record);
      if (!lease) throw apiErrors.leaseNotFound(record.id);
      return view(lease);
    },
  );

  api.delete<LeaseRoute>(
    '/v1/apps/:app/machines/:id/lease',
    {
      schema: {
        summary: `Release the lease of a machine (send its nonce in ${LEASE_HEADER})`,
        returns: 'Ok',
        params: appMachineParams,
      },
    },
    async (request) => {
      const { app, id } = request.params;
      await changeRecord(store, app, id, (current) => {
        if (!liveLease(current)) throw apiErrors.leaseNotFound(id);
        checkLease(current, nonceOf(request));
        const { lease, ...rest } = current;
        return rest;
      });
      return { ok: true };
    },
  );
}
