/**
 * An org's budget level as the parts that act on it see it (the start gate, the proxy's 402 and
 * autostop, the autoscaler): what the enforcer last wrote in `billing/state/<org>`, valid for its
 * month only and only while the org still has a budget (a cleared cap opens everything at once).
 */
import type { Store } from '../store/types.ts';
import { billingNow } from './clock.ts';
import { type BillingState, billingStateKey } from './enforce.ts';
import { monthOf } from './meter.ts';
import type { Budget, BudgetLevel } from './planner.ts';
import { readBudget } from './store.ts';

/** Pure: the level `state` means at `nowMs` (a state of last month is stale: the new month is `ok`). */
export function effectiveLevel(
  state: BillingState | undefined,
  budget: Budget | undefined,
  nowMs: number,
): BudgetLevel {
  if (state === undefined || budget === undefined || state.month !== monthOf(nowMs)) return 'ok';
  return state.level;
}

/** Two reads: the org's state and its budget. */
export async function orgLevel(
  store: Store,
  org: string,
  nowMs: number = billingNow(),
): Promise<BudgetLevel> {
  const state = (await store.get<BillingState>(billingStateKey(org)))?.value;
  if (state === undefined || state.level === 'ok') return 'ok';
  return effectiveLevel(state, await readBudget(store, org), nowMs);
}

/**
 * Whether the org may add machines (the autoscaler asks before it grows an app): no once it
 * reached its budget's shrink level (`shrink_at_percent`, 80 unless set) this month, nor when
 * suspended. Stopping and removing machines is always allowed.
 */
export async function orgMayGrow(store: Store, org: string, nowMs: number = billingNow()): Promise<boolean> {
  return (await orgLevel(store, org, nowMs)) === 'ok';
}
