/**
 * Billing routes (nearby's own, not part of the Machines API): the price list
 * (`/v1/billing/prices`, set by the admin), an org's month so far (`/v1/orgs/:org/billing/usage`)
 * and its spending cap (`/v1/orgs/:org/budget`, the org's tokens and the admin).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { billingNow } from '../../billing/clock.ts';
import type { Budget } from '../../billing/planner.ts';
import {
  budgetKey,
  orgUsage,
  readBudget,
  readPrices,
  writeBudget,
  writePrices,
} from '../../billing/store.ts';
import { canManageOrg } from '../auth.ts';
import { apiErrors } from '../errors.ts';
import type { ControlPlane } from '../machines.ts';

type OrgRequest = FastifyRequest<{ Params: { org: string } }>;

function orgOnly(request: OrgRequest): string {
  const { org } = request.params;
  if (!canManageOrg(request.token, org))
    throw apiErrors.forbidden(`this token may not see or set the budget of org ${org}`);
  return org;
}

const budgetBody = {
  type: 'object',
  required: ['cap_usd'],
  properties: {
    cap_usd: { type: 'number' },
    shrink_at_percent: { type: 'number' },
    webhook: { type: 'string' },
  },
};

const orgParams = {
  type: 'object',
  required: ['org'],
  properties: { org: { type: 'string', minLength: 1 } },
};

export function billingRoutes(api: FastifyInstance, cp: ControlPlane, now: () => number = billingNow): void {
  api.get('/v1/billing/prices', { schema: { summary: 'The price list usage is charged at' } }, async () =>
    readPrices(cp.store),
  );

  api.put<{ Body: unknown }>(
    '/v1/billing/prices',
    { schema: { summary: 'Set the price list (admin token)', body: { type: 'object' } } },
    async (request) => {
      if (request.token.kind !== 'admin')
        throw apiErrors.forbidden('only the admin token may set the price list');
      return writePrices(cp.store, request.body);
    },
  );

  api.get<{ Params: { org: string } }>(
    '/v1/orgs/:org/billing/usage',
    { schema: { summary: "The org's month so far per app, and a linear forecast", params: orgParams } },
    async (request) => orgUsage(cp.store, orgOnly(request), now()),
  );

  api.get<{ Params: { org: string } }>(
    '/v1/orgs/:org/budget',
    { schema: { summary: "The org's monthly spending cap (none: null)", params: orgParams } },
    async (request) => ({ budget: (await readBudget(cp.store, orgOnly(request))) ?? null }),
  );

  api.put<{ Params: { org: string }; Body: Partial<Budget> }>(
    '/v1/orgs/:org/budget',
    {
      schema: {
        summary: "Set the org's monthly spending cap, its shrink threshold and webhook",
        params: orgParams,
        body: budgetBody,
      },
    },
    async (request) => ({ budget: await writeBudget(cp.store, orgOnly(request), request.body ?? {}) }),
  );

  api.delete<{ Params: { org: string } }>(
    '/v1/orgs/:org/budget',
    { schema: { summary: "Clear the org's spending cap", params: orgParams } },
    async (request) => {
      await cp.store.delete(budgetKey(orgOnly(request)));
      return { budget: null };
    },
  );
}
