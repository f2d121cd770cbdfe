/**
 * One pass of the budget enforcer: for each org with a budget, price its month, decide the level
 * and write `billing/state/<org>` (level, month, warnings announced, machines it stopped) for the
 * parts that act on it. It acts on changes only: warnings not yet sent, the org's started machines
 * stopped when it reaches the cap, the same machines started again when it comes back (a raised or
 * cleared cap, a new month). The effects are the loop's (enforce-loop.ts); this file decides.
 */
import type { Store } from '../store/types.ts';
import { monthOf } from './meter.ts';
import { type Budget, type BudgetLevel, decide } from './planner.ts';
import { orgUsage } from './store.ts';

export const billingStateKey = (org: string): string => `billing/state/${org}`;
export const BILLING_STATE_PREFIX = 'billing/state/';

export interface MachineRef {
  app: string;
  id: string;
}

export interface BillingState {
  month: string;
  level: BudgetLevel;
  percent: number;
  /** Warnings (50, 80, 100) sent this month; a new month starts with none. */
  announced: number[];
  /** The cap the level is of (the proxy's 402 page names it). */
  cap_usd?: number;
  /** Machines the enforcer stopped at the cap: started again when the org comes back. */
  stopped?: MachineRef[];
  /** False while some started machine of the org could not be asked to stop: the next pass retries. */
  suspend_complete?: boolean;
}

export interface EnforceEffects {
  /** A warning crossed and not yet sent this month. */
  notify(org: string, budget: Budget, state: BillingState, warning: number): Promise<void>;
  /** Stop every started machine of the org; those asked to stop, and whether that was all of them. */
  suspend(org: string, state: BillingState): Promise<{ stopped: MachineRef[]; complete: boolean }>;
  /** Start these machines again; returns those that could not be (retried next pass). */
  resume(org: string, machines: MachineRef[], state: BillingState): Promise<MachineRef[]>;
  /** The org's level changed (after the machines were stopped or started). */
  changed(org: string, from: BudgetLevel, state: BillingState, machines: MachineRef[]): Promise<void>;
}

/** Machines in `a` or `b`, each once. */
function union(a: MachineRef[], b: MachineRef[]): MachineRef[] {
  const seen = new Set(a.map((m) => `${m.app}/${m.id}`));
  return [...a, ...b.filter((m) => !seen.has(`${m.app}/${m.id}`))];
}

export async function enforceOnce(
  store: Store,
  nowMs: number,
  effects: EnforceEffects,
): Promise<Map<string, BillingState>> {
  const month = monthOf(nowMs);
  const states = new Map<string, BillingState>();
  const budgets = new Map(
    (await store.list<Budget>('billing/budgets/')).map((e) => [e.key.split('/')[2], e.value]),
  );
  const previous = new Map(
    (await store.list<BillingState>(BILLING_STATE_PREFIX)).map((e) => [e.key.split('/')[2], e.value]),
  );
  for (const org of new Set([...budgets.keys(), ...previous.keys()])) {
    const before = previous.get(org);
    const announced = before?.month === month ? before.announced : [];
    const budget = budgets.get(org);
    const usage = await orgUsage(store, org, nowMs);
    const decision = decide(usage.spent_usd, budget, announced);
    // Across a month too: suspended last month and not now is a return.
    const from: BudgetLevel = before?.level ?? 'ok';
    let stopped = before?.stopped ?? [];
    let complete = before?.suspend_complete ?? true;
    const state = (): BillingState => ({
      month,
      level: decision.level,
      percent: decision.percent,
      announced: [...announced, ...decision.warn],
      ...(budget ? { cap_usd: budget.cap_usd } : {}),
      ...(stopped.length > 0 ? { stopped } : {}),
      ...(complete ? {} : { suspend_complete: false }),
    });
    if (budget) for (const warning of decision.warn) await effects.notify(org, budget, state(), warning);
    let changedMachines: MachineRef[] = [];
    if (decision.level === 'suspended' && (from !== 'suspended' || !complete)) {
      // The state first: the gate refuses a wake of a machine while the others stop.
      complete = false;
      await store.put(billingStateKey(org), state());
      const result = await effects.suspend(org, state());
      stopped = union(stopped, result.stopped);
      changedMachines = result.stopped;
      complete = result.complete;
    } else if (decision.level !== 'suspended' && stopped.length > 0) {
      // The state first: the gate lets the starts through.
      await store.put(billingStateKey(org), state());
      const failed = await effects.resume(org, stopped, state());
      const failedKeys = new Set(failed.map((m) => `${m.app}/${m.id}`));
      changedMachines = stopped.filter((m) => !failedKeys.has(`${m.app}/${m.id}`));
      stopped = failed;
    }
    if (decision.level !== from) await effects.changed(org, from, state(), changedMachines);
    const next = state();
    await store.put(billingStateKey(org), next);
    states.set(org, next);
  }
  return states;
}
