/**
 * Where billing lives in the store: the price list (`billing/prices`), each org's budget
 * (`billing/budgets/<org>`) and usage records (`usage/<org>/<month>/<app>/<host>`, one key per
 * host so each agent owns and rewrites its own totals). Also the month's summary per app.
 */
import type { Store } from '../store/types.ts';
import { budgetInvalid } from './errors.ts';
import { costUsd, forecastUsd, monthOf, type UsageRecord } from './meter.ts';
import type { Budget } from './planner.ts';
import { DEFAULT_PRICES, type PriceList, parsePrices } from './prices.ts';

export const PRICES_KEY = 'billing/prices';
export const budgetKey = (org: string): string => `billing/budgets/${org}`;
export const usageKey = (org: string, month: string, app: string, host: string): string =>
  `usage/${org}/${month}/${app}/${host}`;

/** The operator's price list, or the defaults when none was set. */
export async function readPrices(store: Store): Promise<PriceList> {
  const entry = await store.get<PriceList>(PRICES_KEY);
  return entry === undefined ? DEFAULT_PRICES : parsePrices(entry.value);
}

export async function writePrices(store: Store, value: unknown): Promise<PriceList> {
  const prices = parsePrices(value);
  await store.put(PRICES_KEY, prices);
  return prices;
}

export async function readBudget(store: Store, org: string): Promise<Budget | undefined> {
  return (await store.get<Budget>(budgetKey(org)))?.value;
}

/** Checks and stores a budget; the enforcer reads it on its next pass (within a minute). */
export async function writeBudget(store: Store, org: string, input: Partial<Budget>): Promise<Budget> {
  const cap = input.cap_usd;
  if (typeof cap !== 'number' || !Number.isFinite(cap) || cap <= 0) throw budgetInvalid(String(cap));
  const shrink = input.shrink_at_percent;
  if (shrink !== undefined && (typeof shrink !== 'number' || shrink <= 0 || shrink > 100)) {
    throw budgetInvalid(`shrink at ${shrink}%`);
  }
  if (input.webhook !== undefined && !/^https?:\/\//.test(input.webhook))
    throw budgetInvalid(`webhook ${input.webhook}`);
  const budget: Budget = { cap_usd: cap };
  if (shrink !== undefined) budget.shrink_at_percent = shrink;
  if (input.webhook !== undefined) budget.webhook = input.webhook;
  await store.put(budgetKey(org), budget);
  return budget;
}

export interface AppUsage {
  app: string;
  spent_usd: number;
  forecast_usd: number;
  machine_seconds: number;
  egress_bytes: number;
}

export interface OrgUsage {
  org: string;
  month: string;
  spent_usd: number;
  forecast_usd: number;
  apps: AppUsage[];
}

/** The month of `nowMs` so far for one org: every host's record summed per app, priced, forecast. */
export async function orgUsage(store: Store, org: string, nowMs: number): Promise<OrgUsage> {
  const month = monthOf(nowMs);
  const prices = await readPrices(store);
  const byApp = new Map<string, AppUsage>();
  for (const entry of await store.list<UsageRecord>(`usage/${org}/${month}/`)) {
    const app = entry.key.split('/')[3];
    const row = byApp.get(app) ?? { app, spent_usd: 0, forecast_usd: 0, machine_seconds: 0, egress_bytes: 0 };
    row.spent_usd += costUsd(entry.value, prices);
    row.machine_seconds += Object.values(entry.value.machine_seconds).reduce((a, b) => a + b, 0);
    row.egress_bytes += Object.values(entry.value.egress_bytes).reduce((a, b) => a + b, 0);
    byApp.set(app, row);
  }
  const apps = [...byApp.values()].sort((a, b) => a.app.localeCompare(b.app));
  for (const row of apps) row.forecast_usd = forecastUsd(row.spent_usd, nowMs);
  const spent = apps.reduce((sum, row) => sum + row.spent_usd, 0);
  return { org, month, spent_usd: spent, forecast_usd: forecastUsd(spent, nowMs), apps };
}
