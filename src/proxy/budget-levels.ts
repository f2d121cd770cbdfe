/**
 * The spending cap at the edge (docs/billing.md): which apps' orgs the budget enforcer suspended
 * (HAProxy answers their requests `402`) or shrinks (autostop stops their idle machines at once
 * and starts none for load). Read from two small mirrors, `billing/state/` and `billing/budgets/`
 * (one key per org with a cap), so nothing on a request's path or in a pass reads the store.
 * Suspended apps reach HAProxy as a map (`suspended.map`: app → `org:cap`), changed through the
 * Runtime API: no reload.
 */
import type pino from 'pino';
import { billingNow } from '../billing/clock.ts';
import { BILLING_STATE_PREFIX, type BillingState } from '../billing/enforce.ts';
import { effectiveLevel } from '../billing/level.ts';
import type { Budget, BudgetLevel } from '../billing/planner.ts';
import { errorMessage } from '../errors.ts';
import type { AppRecord } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import type { RuntimeApi } from './runtime-api.ts';
import { StoreMirror } from './store-mirror.ts';

const BUDGETS_PREFIX = 'billing/budgets/';

export class BudgetLevels {
  readonly mirrors: StoreMirror<unknown>[];
  readonly #states: StoreMirror<BillingState>;
  readonly #budgets: StoreMirror<Budget>;

  constructor(store: Store, signal: AbortSignal, onChange: () => void, log: pino.Logger) {
    this.#states = new StoreMirror<BillingState>(store, BILLING_STATE_PREFIX, signal, onChange, log);
    this.#budgets = new StoreMirror<Budget>(store, BUDGETS_PREFIX, signal, onChange, log);
    this.mirrors = [this.#states, this.#budgets] as StoreMirror<unknown>[];
  }

  /** The level of an org now (`ok` without a cap, or when the state is of another month). */
  level(org: string, nowMs: number = billingNow()): BudgetLevel {
    const state = this.#states.entries.get(`${BILLING_STATE_PREFIX}${org}`)?.value;
    if (state === undefined || state.level === 'ok') return 'ok';
    return effectiveLevel(state, this.#budgets.entries.get(`${BUDGETS_PREFIX}${org}`)?.value, nowMs);
  }

  /** `suspended.map`'s entries: each app of a suspended org → `<org>:<cap>` (what the 402 page names). */
  suspended(apps: Iterable<AppRecord>, nowMs: number = billingNow()): Map<string, string> {
    const entries = new Map<string, string>();
    for (const app of apps) {
      const org = app.org_slug ?? 'personal';
      if (this.level(org, nowMs) !== 'suspended') continue;
      const cap = this.#states.entries.get(`${BILLING_STATE_PREFIX}${org}`)?.value.cap_usd ?? 0;
      entries.set(app.name, `${org}:${cap.toFixed(2)}`);
    }
    return entries;
  }
}

export function renderSuspendedMap(entries: Map<string, string>): string {
  return [...entries].map(([app, value]) => `${app} ${value}\n`).join('');
}

/**
 * Makes HAProxy's `suspended.map` hold `wanted` (one `show map`, then only the differences).
 * Logs a failure once until it works again; the next call retries.
 */
export function suspendedMapSync(api: RuntimeApi, file: string, log: pino.Logger) {
  let failing = false;
  let chain = Promise.resolve();
  const apply = async (wanted: Map<string, string>) => {
    const current = await api.showMap(file);
    for (const [app, value] of wanted) {
      if (current.get(app) === value) continue;
      if (current.has(app)) await api.setMap(file, app, value);
      else await api.addMap(file, app, value);
      log.info({ app, reason: value }, 'app suspended at its spending cap: requests answered 402');
    }
    for (const app of current.keys()) {
      if (wanted.has(app)) continue;
      await api.deleteMap(file, app);
      log.info({ app }, 'app back under its spending cap: requests served again');
    }
  };
  return (wanted: Map<string, string>): Promise<void> => {
    chain = chain.then(() =>
      apply(wanted).then(
        () => {
          failing = false;
        },
        (error) => {
          if (!failing)
            log.warn({ err: errorMessage(error) }, 'could not update the suspended apps in HAProxy');
          failing = true;
        },
      ),
    );
    return chain;
  };
}
