/**
 * The budget enforcer's decisions, pure: from an org's spend, its cap and what was already
 * announced this month, the level the org is at and the warnings still to send. The lease-holding
 * enforcer applies them (flags in the store, events, webhook); this file does no I/O.
 */

export type BudgetLevel = 'ok' | 'shrink' | 'suspended';

export interface Budget {
  cap_usd: number;
  /** Percent of the cap where the org's apps shrink to their minimum (80 unless set). */
  shrink_at_percent?: number;
  webhook?: string;
}

export interface BudgetDecision {
  level: BudgetLevel;
  percent: number;
  /** Thresholds (50, 80, 100) crossed and not yet announced this month. */
  warn: number[];
}

export const WARN_AT = [50, 80, 100];

export function decide(
  spentUsd: number,
  budget: Budget | undefined,
  announced: readonly number[],
): BudgetDecision {
  if (budget === undefined || budget.cap_usd <= 0) return { level: 'ok', percent: 0, warn: [] };
  const percent = (spentUsd / budget.cap_usd) * 100;
  const shrinkAt = budget.shrink_at_percent ?? 80;
  const level: BudgetLevel = percent >= 100 ? 'suspended' : percent >= shrinkAt ? 'shrink' : 'ok';
  const warn = WARN_AT.filter((at) => percent >= at && !announced.includes(at));
  return { level, percent, warn };
}
