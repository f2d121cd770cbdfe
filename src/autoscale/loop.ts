/**
 * The autoscaler (docs/autoscale.md): one per cluster, in whichever API holds `leases/autoscale`.
 * Every `intervalMs` it reads each autoscaled app's state, asks the planner what to change, and
 * carries it out: new machines are copies of the group's newest machine (its release's config and
 * image; a volume is asked for by name, as `nearby scale count` does), removed ones are stopped
 * (the proxies drain them) and then destroyed. Every decision is kept (`autoscale/decisions/<app>`,
 * bounded) and is an event of the app.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import {
  type ControlPlane,
  createMachine,
  destroyMachine,
  getApp,
  getRecord,
  stopMachine,
} from '../api/machines.ts';
import { liveRegions } from '../api/scheduler.ts';
import { waitForState } from '../api/wait.ts';
import { orgMayGrow } from '../billing/level.ts';
import { errorMessage } from '../errors.ts';
import {
  type AppRecord,
  type AutoscaleDecision,
  type AutoscaleDecisionsRecord,
  copyConfig,
  DECISIONS_KEPT,
  keys,
  type MachineRecord,
  recordAppEvent,
} from '../model/mod.ts';
import { holdLease } from '../store/lease.ts';
import { update, values } from '../store/mod.ts';
import type { Store } from '../store/types.ts';
import { noteBusy, type PlannedDecision, planAutoscale } from './planner.ts';
import { readAutoscaleState, readRttMatrix } from './state.ts';

export const autoscaleDefaults = { intervalMs: 5_000 };

/**
 * Longer than the lease module's default: a cluster store across continents took up to 26 s for
 * one compare-and-set in the world under load, and a holder that loses its lease at every slow
 * renewal decides nothing. A new holder after a crash waits this long: fine for scaling.
 */
export const AUTOSCALE_LEASE_TTL_MS = 45_000;

/**
 * Whether the app's org may have more machines now: the spending cap (docs/billing.md) says no
 * from the org's shrink level (80% of the cap unless set) on. Tests may answer for it.
 */
export type MayGrow = (app: string, now: number) => Promise<boolean>;
const withinBudget =
  (store: Store): MayGrow =>
  async (app) =>
    orgMayGrow(store, (await getApp(store, app)).org_slug ?? 'personal');

export interface AutoscalerOptions {
  cp: ControlPlane;
  holder: string;
  log: Logger;
  signal: AbortSignal;
  intervalMs?: number;
  mayGrow?: MayGrow;
}

export async function runAutoscaler(options: AutoscalerOptions): Promise<void> {
  const { cp, log, signal } = options;
  const { store } = cp;
  const mayGrow = options.mayGrow ?? withinBudget(store);
  const intervalMs = options.intervalMs ?? autoscaleDefaults.intervalMs;
  const lease = holdLease({
    store,
    name: 'autoscale',
    holder: options.holder,
    ttlMs: AUTOSCALE_LEASE_TTL_MS,
    log,
    signal,
  });
  /** app → region → when its machines last carried a request. Starts at the first look: a new holder waits a cooldown. */
  const busy = new Map<string, Map<string, number>>();
  /** Machines being stopped and destroyed: the planner no longer counts them. */
  const removing = new Set<string>();
  let failing = false;

  async function passApp(app: string, now: number): Promise<void> {
    const state = await readAutoscaleState(store, app, now);
    if (state === undefined || state.deploying) return;
    const live = state.machines.filter(({ record }) => !removing.has(record.id));
    const lastBusy = busy.get(app) ?? new Map<string, number>();
    busy.set(app, lastBusy);
    for (const { record } of live) if (!lastBusy.has(record.region)) lastBusy.set(record.region, now);
    noteBusy(lastBusy, state.demand, now);
    const template = live.at(-1)?.record;
    if (template === undefined) return; // nothing to copy: `nearby deploy` makes the first machines
    const planned = planAutoscale({
      config: state.config,
      machines: live.map(({ record, state: observed }) => ({
        id: record.id,
        region: record.region,
        state: observed,
        createdAt: Date.parse(record.created_at),
      })),
      demand: state.demand,
      rtt: await readRttMatrix(store),
      liveRegions: await liveRegions(store),
      primaryRegion: live[0].record.config.env?.PRIMARY_REGION ?? live[0].record.region,
      decisions: state.decisions,
      lastBusy,
      now,
    });
    for (const { remove: ids = [], ...decision } of planned) {
      if (signal.aborted || !lease.held()) return;
      const at = new Date(now).toISOString();
      if (decision.action === 'add' && !(await mayGrow(app, now))) {
        const reason = `${decision.reason}, but the org's spending cap allows no more machines`;
        await record(app, { ...decision, action: 'hold', count: 0, reason, blocked_by: 'spending_cap', at });
      } else if (decision.action === 'add') {
        await record(app, { ...decision, at, machines: await add(app, template, decision) });
      } else if (decision.action === 'remove') {
        for (const id of ids) void remove(app, id);
        await record(app, { ...decision, at, machines: ids });
      } else {
        await record(app, { ...decision, at });
      }
    }
  }

  async function add(app: string, template: MachineRecord, decision: PlannedDecision): Promise<string[]> {
    const config = copyConfig(template.config);
    const ids: string[] = [];
    for (let index = 0; index < decision.count; index++) {
      const created = await createMachine(cp, app, { config, region: decision.region });
      log.info({ app, machine: created.id, region: decision.region }, 'autoscale: machine added');
      ids.push(created.id);
    }
    return ids;
  }

  /** Stopped first, so the proxies drain it; destroyed once stopped (or after a minute regardless). */
  async function remove(app: string, id: string): Promise<void> {
    removing.add(id);
    try {
      await stopMachine(cp, app, id, { reason: 'autoscale' });
      await waitForState(store, await getRecord(store, app, id), 'stopped', 60_000, { signal }).catch(
        () => {},
      );
      await destroyMachine(cp, app, id, true);
      log.info({ app, machine: id }, 'autoscale: machine removed');
    } catch (error) {
      log.warn({ app, machine: id, err: errorMessage(error) }, 'autoscale: removing a machine failed');
    } finally {
      removing.delete(id);
    }
  }

  /** Keeps the decision (a hold only when it says something new for its region) and tells the app's events. */
  async function record(app: string, decision: AutoscaleDecision): Promise<void> {
    let kept = true;
    await update<AutoscaleDecisionsRecord>(store, keys.autoscaleDecisions(app), (current) => {
      const decisions = current?.decisions ?? [];
      const last = decisions.findLast((earlier) => earlier.region === decision.region);
      // The figures of a hold move at every pass: it is told again only when its cause changes.
      kept = !(
        decision.action === 'hold' &&
        last?.action === 'hold' &&
        last.blocked_by === decision.blocked_by
      );
      if (!kept) return undefined;
      return { app, decisions: [...decisions, decision].slice(-DECISIONS_KEPT) };
    });
    if (!kept) return;
    const type = { add: 'machines_added', remove: 'machines_removed', hold: 'held' }[decision.action];
    const machines = `${decision.count} machine${decision.count === 1 ? '' : 's'}`;
    const what =
      decision.action === 'hold'
        ? `held in ${decision.region}`
        : `${machines} ${decision.action === 'add' ? 'added' : 'removed'} in ${decision.region}`;
    await recordAppEvent(store, app, {
      source: 'autoscale',
      type,
      message: `${what}: ${decision.reason}`,
      details: {
        region: decision.region,
        count: decision.count,
        ...decision.figures,
        machines: decision.machines ?? [],
      },
    });
  }

  while (!signal.aborted) {
    if (lease.held()) {
      const now = Date.now();
      try {
        const apps = await values<AppRecord>(store, keys.apps());
        for (const app of apps) {
          if (!lease.held()) break;
          await passApp(app.name, now).catch((error) =>
            log.warn({ app: app.name, err: errorMessage(error) }, 'autoscale pass failed for an app'),
          );
        }
        if (failing) log.info('autoscale passes work again');
        failing = false;
      } catch (error) {
        if (!failing) log.warn({ err: errorMessage(error) }, 'autoscale pass failed');
        failing = true;
      }
    }
    await sleep(intervalMs, undefined, { signal }).catch(() => {});
  }
  await lease.done;
}
