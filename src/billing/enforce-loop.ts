/**
 * The budget enforcer's loop: one per cluster (`leases/billing`), a pass every 20 s so a raised
 * cap is seen within a minute. Warnings go to the log, the org's webhook when it has one, and an
 * event on each app of the org (source `budget`); at the cap the org's machines are stopped, and
 * started again when it comes back, each change an event on the app.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { recordAppEvent } from '../model/app-event.ts';
import { holdLease } from '../store/lease.ts';
import type { Store } from '../store/types.ts';
import { billingNow } from './clock.ts';
import { type BillingState, type EnforceEffects, enforceOnce, type MachineRef } from './enforce.ts';
import { type BudgetMachineControl, orgApps, startStoppedMachines, stopOrgMachines } from './org-machines.ts';
import type { Budget, BudgetLevel } from './planner.ts';

export const ENFORCE_INTERVAL_MS = 20_000;

const usd = (value: number | undefined) => `$${(value ?? 0).toFixed(2)}`;
const raise = (org: string) =>
  `raise it (\`nearby billing budget set AMOUNT --org ${org}\`) or clear it (\`nearby billing budget clear --org ${org}\`)`;

/** One line for a person: what the warning means for the org's apps. */
function warningMessage(org: string, state: BillingState, warning: number): string {
  const reached = `org ${org} reached ${warning}% of its monthly spending cap of ${usd(state.cap_usd)} (${Math.round(state.percent)}% spent)`;
  if (state.level === 'suspended') return `${reached}: its apps are suspended; ${raise(org)}`;
  if (state.level === 'shrink')
    return `${reached}: its apps shrink to their minimum (idle machines stop at once, none are added)`;
  return reached;
}

function changeEvent(org: string, from: BudgetLevel, state: BillingState, machines: MachineRef[]) {
  const count = `${machines.length} machine${machines.length === 1 ? '' : 's'}`;
  if (state.level === 'suspended')
    return {
      type: 'suspended',
      message: `suspended: org ${org} reached its monthly spending cap of ${usd(state.cap_usd)}; ${count} stopped (volumes, config, releases and machines are kept); ${raise(org)}, or wait for next month`,
    };
  if (from === 'suspended')
    return {
      type: 'resumed',
      message: `resumed: org ${org} is under its spending cap again (${state.month}, ${Math.round(state.percent)}% spent); ${count} started again`,
    };
  if (state.level === 'shrink')
    return {
      type: 'shrink',
      message: `shrinking: org ${org} is at ${Math.round(state.percent)}% of its spending cap of ${usd(state.cap_usd)}; idle machines stop at once and none are added`,
    };
  return {
    type: 'ok',
    message: `org ${org} is back under its shrink level (${Math.round(state.percent)}% of its spending cap): apps scale as usual`,
  };
}

export async function runEnforcer(options: {
  store: Store;
  holder: string;
  /** The control plane's start and stop: machines are stopped at the cap and started again after. */
  control: BudgetMachineControl;
  log: Logger;
  signal: AbortSignal;
  now?: () => number;
}): Promise<void> {
  const { store, log, signal, control } = options;
  const lease = holdLease({ store, name: 'billing', holder: options.holder, log, signal });
  /** An event on each app of the org; a failing stream write is logged, the state keeps the truth. */
  const tellApps = async (
    org: string,
    type: string,
    message: string | ((app: string) => string),
    details: Record<string, unknown>,
    machinesOf?: (app: string) => string[],
  ) => {
    for (const app of await orgApps(store, org)) {
      const machines = machinesOf?.(app);
      await recordAppEvent(store, app, {
        source: 'budget',
        type,
        message: typeof message === 'string' ? message : message(app),
        details: { org, ...details, ...(machines ? { machines } : {}) },
      }).catch((error) => log.warn({ err: error, org, app }, 'could not record the budget event'));
    }
  };
  const logMachineError = (action: string) => (machine: MachineRef, error: string) =>
    log.warn({ ...machine, err: error }, `could not ${action} a machine for the budget; retried next pass`);
  const effects: EnforceEffects = {
    async notify(org: string, budget: Budget, state: BillingState, warning: number) {
      const message = warningMessage(org, state, warning);
      log.warn({ org, percent: Math.round(state.percent), warning }, message);
      const figures = {
        month: state.month,
        warning,
        percent: state.percent,
        level: state.level,
        cap_usd: budget.cap_usd,
      };
      await tellApps(org, 'warning', message, figures);
      if (!budget.webhook) return;
      // A webhook that fails is logged, not retried: the state, the log and the events keep the warning.
      await fetch(budget.webhook, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ org, ...figures, message }),
        signal: AbortSignal.timeout(5_000),
      }).catch((error) => log.warn({ err: error, org }, 'budget webhook failed'));
    },
    async suspend(org) {
      const result = await stopOrgMachines(
        store,
        await orgApps(store, org),
        control,
        logMachineError('stop'),
      );
      log.warn(
        { org, stopped: result.stopped.length },
        `org ${org} reached its cap: its machines are stopped`,
      );
      return result;
    },
    async resume(org, machines) {
      const failed = await startStoppedMachines(store, machines, control, logMachineError('start'));
      log.info({ org, started: machines.length - failed.length }, `org ${org} is back under its cap`);
      return failed;
    },
    async changed(org, from, state, machines) {
      const ids = (app: string) => machines.filter((m) => m.app === app).map((m) => m.id);
      const of = (app: string) => machines.filter((m) => m.app === app);
      const type = changeEvent(org, from, state, []).type;
      const details = {
        month: state.month,
        from,
        level: state.level,
        percent: state.percent,
        cap_usd: state.cap_usd,
      };
      await tellApps(org, type, (app) => changeEvent(org, from, state, of(app)).message, details, ids);
    },
  };
  while (!signal.aborted) {
    if (lease.held())
      await enforceOnce(store, (options.now ?? billingNow)(), effects).catch((error) =>
        log.warn({ err: error }, 'budget pass failed'),
      );
    await sleep(ENFORCE_INTERVAL_MS, undefined, { signal }).catch(() => {});
  }
  await lease.done;
}
