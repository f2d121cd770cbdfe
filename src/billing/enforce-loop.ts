/**
 * The budget enforcer's loop: one per cluster (`leases/billing`), a pass every 20 s so a raised
 * cap is seen within a minute. Warnings are logged and POSTed to the org's webhook when it has one.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { holdLease } from '../store/lease.ts';
import type { Store } from '../store/types.ts';
import { enforceOnce, type Notify } from './enforce.ts';

export const ENFORCE_INTERVAL_MS = 20_000;

export async function runEnforcer(options: {
  store: Store;
  holder: string;
  log: Logger;
  signal: AbortSignal;
  now?: () => number;
}): Promise<void> {
  const { store, log, signal } = options;
  const lease = holdLease({ store, name: 'billing', holder: options.holder, log, signal });
  const notify: Notify = async (org, budget, state, warning) => {
    log.warn(
      { org, percent: Math.round(state.percent), warning },
      `org ${org} reached ${warning}% of its budget`,
    );
    if (!budget.webhook) return;
    const body = JSON.stringify({
      org,
      month: state.month,
      warning,
      percent: state.percent,
      level: state.level,
      cap_usd: budget.cap_usd,
    });
    // A webhook that fails is logged, not retried: the state and the log keep the warning.
    await fetch(budget.webhook, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(5_000),
    }).catch((error) => log.warn({ err: error, org }, 'budget webhook failed'));
  };
  while (!signal.aborted) {
    if (lease.held())
      await enforceOnce(store, (options.now ?? Date.now)(), notify).catch((error) =>
        log.warn({ err: error }, 'budget pass failed'),
      );
    await sleep(ENFORCE_INTERVAL_MS, undefined, { signal }).catch(() => {});
  }
  await lease.done;
}
