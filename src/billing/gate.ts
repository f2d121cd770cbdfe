/** The start gate: an org the enforcer suspended this month may not start or wake its machines. */
import { type AppRecord, keys } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import { billingNow } from './clock.ts';
import { type BillingState, billingStateKey } from './enforce.ts';
import { budgetExceeded } from './errors.ts';
import { effectiveLevel } from './level.ts';
import { readBudget } from './store.ts';

/** Throws BUDGET_EXCEEDED (402) when the app's org is suspended for the month of `nowMs`. */
export async function refuseIfSuspended(
  store: Store,
  app: string,
  nowMs: number = billingNow(),
): Promise<void> {
  const org = (await store.get<AppRecord>(keys.app(app)))?.value.org_slug ?? 'personal';
  const state = (await store.get<BillingState>(billingStateKey(org)))?.value;
  if (state?.level !== 'suspended') return;
  const budget = await readBudget(store, org);
  if (budget && effectiveLevel(state, budget, nowMs) === 'suspended')
    throw budgetExceeded(org, budget.cap_usd);
}
