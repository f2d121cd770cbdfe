/**
 * One pass of the budget enforcer: for each org with a budget, price its month, decide the level
 * and write `billing/state/<org>` (level, month, warnings announced) for the parts that act on it;
 * new warnings go to the org's webhook (the loop, one per cluster: enforce-loop.ts).
 */
import type { Store } from '../store/types.ts';
import { monthOf } from './meter.ts';
import { type Budget, type BudgetLevel, decide } from './planner.ts';
import { orgUsage } from './store.ts';

export const billingStateKey = (org: string): string => `billing/state/${org}`;

export interface BillingState {
  month: string;
  level: BudgetLevel;
  percent: number;
  /** Warnings (50, 80, 100) sent this month; a new month starts with none. */
  announced: number[];
}

export type Notify = (org: string, budget: Budget, state: BillingState, warning: number) => Promise<void>;

export async function enforceOnce(
  store: Store,
  nowMs: number,
  notify: Notify,
): Promise<Map<string, BillingState>> {
  const month = monthOf(nowMs);
  const states = new Map<string, BillingState>();
  const budgets = new Map(
    (await store.list<Budget>('billing/budgets/')).map((e) => [e.key.split('/')[2], e.value]),
  );
  const known = (await store.list<BillingState>('billing/state/')).map((e) => e.key.split('/')[2]);
  for (const org of new Set([...budgets.keys(), ...known])) {
    const previous = (await store.get<BillingState>(billingStateKey(org)))?.value;
    const announced = previous?.month === month ? previous.announced : [];
    const usage = await orgUsage(store, org, nowMs);
    const decision = decide(usage.spent_usd, budgets.get(org), announced);
    const state: BillingState = {
      month,
      level: decision.level,
      percent: decision.percent,
      announced: [...announced, ...decision.warn],
    };
    const budget = budgets.get(org);
    if (budget) for (const warning of decision.warn) await notify(org, budget, state, warning);
    await store.put(billingStateKey(org), state);
    states.set(org, state);
  }
  return states;
}
