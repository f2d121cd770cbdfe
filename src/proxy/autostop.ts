/**
 * Autostop in a region (docs/scale-to-zero.md). Every proxy, every `intervalMs`, reads HAProxy's
 * per-server counters for its own host's machines and publishes what changed to
 * `machine-activity/<region>/<host>` (autostop-activity.ts). The one proxy of the region holding
 * `leases/autostop/<region>` merges every proxy's record and decides: it asks the control plane to
 * stop (or suspend) one idle machine per app, waiting for that one to leave `started` before it
 * considers the next; to start one more when every started machine of an app is over its
 * soft_limit; and to start one of the region's own when the region's proxies send the app's
 * requests to another region for want of a started machine here.
 */
import type pino from 'pino';
import type { BudgetLevel } from '../billing/planner.ts';
import { errorMessage } from '../errors.ts';
import type { MachineActivityRecord } from '../model/activity.ts';
import { keys } from '../model/keys.ts';
import type { MachineRecord } from '../model/machine.ts';
import { holdLease, type Lease } from '../store/lease.ts';
import type { Store } from '../store/types.ts';
import type { MachineControl, MachineEntry } from './activator.ts';
import { activityChanged, activityRecord, mergeActivity } from './autostop-activity.ts';
import { planAutostart, planAutostop, planRegionalWake } from './autostop-plan.ts';
import { IdleClock, type MachineLoad, type MachineOfServer, parseShowStat } from './autostop-stats.ts';
import type { RuntimeApi } from './runtime-api.ts';

export interface AutostopOptions {
  api: RuntimeApi;
  control: MachineControl;
  store: Store;
  /** This proxy's host (names its activity record) and region (names the lease). */
  host: string;
  region: string;
  intervalMs: number;
  idleMs: number;
  /** `leases/autostop/<region>`'s TTL; default the lease module's. */
  leaseTtlMs?: number;
  /** Every machine the proxy knows, on every host, with its latest status. */
  machines(): MachineEntry[];
  /** Whether this proxy counts the machine's requests: its own host's (every machine on one host). */
  isLocal(record: MachineRecord): boolean;
  /** Whether the machine's host's proxy is alive (a dead host's machines take no requests); default yes. */
  reachable?(record: MachineRecord): boolean;
  /** The machine behind a server slot. */
  machineOf: MachineOfServer;
  /**
   * The app's org's spending-cap level (budget-levels.ts): at `shrink` idle machines stop at once
   * (never below `min_machines_running`) and none start for load; `suspended` apps are left to the
   * budget enforcer. Default `ok`.
   */
  budgetLevel?(app: string): BudgetLevel;
  log: pino.Logger;
  signal: AbortSignal;
}

export interface Autostop {
  /** A request reached this machine without HAProxy's counters seeing it. */
  touch(machine: string): void;
  /** The region's lease, held by this proxy or not. */
  lease: Lease;
  stop(): void;
}

/** A stop asked for and not carried out within this long no longer blocks the app's next one. */
const PENDING_LIMIT_MS = 60_000;

export const autostopDefaults = { intervalMs: 10_000, idleMs: 300_000 };

/** The lease of a region's decider. */
export const autostopLeaseName = (region: string) => `autostop/${region}`;

export function startAutostop(options: AutostopOptions): Autostop {
  const { log, store, host, region } = options;
  const clock = new IdleClock();
  /** app → the machine asked to stop, and when. */
  const pending = new Map<string, { machine: string; at: number }>();
  /** app → the machine asked to start (load, or demand served elsewhere), and when: one at a time per app. */
  const starting = new Map<string, { machine: string; at: number }>();
  /** Remote machines of other regions: their total at the last sample (traffic sent elsewhere). */
  const elsewhereTotals = new Map<string, number>();
  /** app → when this proxy last sent one of its requests to another region. */
  const servedElsewhere = new Map<string, number>();
  /** How long a request sent elsewhere keeps the region's decider waking one of its own. */
  const elsewhereWindowMs = Math.max(3 * options.intervalMs, 3_000);
  let published: MachineActivityRecord | undefined;
  let publishFailing = false;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const controller = new AbortController();
  options.signal.addEventListener('abort', () => controller.abort(), { once: true });
  const lease = holdLease({
    store,
    name: autostopLeaseName(region),
    holder: `${host}:${process.pid}`,
    ...(options.leaseTtlMs !== undefined ? { ttlMs: options.leaseTtlMs } : {}),
    log,
    signal: controller.signal,
    onChange: (held) => {
      if (held) return;
      pending.clear();
      starting.clear();
    },
  });

  /** Samples this host's machines and publishes the activity record if it says anything new. */
  async function sample(now: number): Promise<MachineActivityRecord> {
    const all = parseShowStat(await options.api.command('show stat'), options.machineOf);
    const records = new Map(options.machines().map((entry) => [entry.record.id, entry.record]));
    const local = new Map<string, MachineLoad>();
    for (const [machine, load] of all) {
      const record = records.get(machine);
      if (record === undefined) continue;
      if (options.isLocal(record)) {
        local.set(machine, load);
      } else if (record.region !== region) {
        // A request of this region sent to another one: routing found no started machine here.
        const before = elsewhereTotals.get(machine);
        if (load.sessions > 0 || (before !== undefined && load.total !== before))
          servedElsewhere.set(record.app, now);
        elsewhereTotals.set(machine, load.total);
      }
    }
    for (const machine of elsewhereTotals.keys()) if (!all.has(machine)) elsewhereTotals.delete(machine);
    for (const [app, at] of servedElsewhere) if (now - at > elsewhereWindowMs) servedElsewhere.delete(app);
    clock.sample(local, now);
    const machines = new Map<string, { load: MachineLoad; lastActive: number }>();
    for (const [machine, load] of local) {
      const idle = clock.idleMs(machine, now);
      if (idle !== undefined) machines.set(machine, { load, lastActive: now - idle });
    }
    const record = activityRecord({ host, region, now, machines, servedElsewhere });
    if (activityChanged(published, record)) {
      try {
        await store.put(keys.machineActivity(region, host), record);
        published = record;
        if (publishFailing) log.info('machine activity published again');
        publishFailing = false;
      } catch (error) {
        // Retried at the next pass: the record is published only once the store took it.
        if (!publishFailing) log.warn({ err: errorMessage(error) }, 'could not publish machine activity');
        publishFailing = true;
      }
    }
    return record;
  }

  /** The region's decision, by the lease holder only: every proxy's activity merged. */
  async function decide(own: MachineActivityRecord, now: number): Promise<void> {
    const listed = await store.list<MachineActivityRecord>(keys.machineActivities(region));
    const records = listed.map((entry) => entry.value).filter((record) => record.host !== host);
    const merged = mergeActivity(region, [...records, own]);
    const loads = new Map<string, MachineLoad>();
    for (const [machine, seen] of merged.machines) loads.set(machine, { sessions: seen.sessions, total: 0 });
    const idleFor = (machine: string) => {
      const seen = merged.machines.get(machine);
      return seen === undefined ? undefined : now - seen.lastActive;
    };
    const byApp = new Map<string, MachineEntry[]>();
    for (const entry of options.machines()) {
      byApp.set(entry.record.app, [...(byApp.get(entry.record.app) ?? []), entry]);
    }
    for (const [app, machines] of byApp) {
      if (!lease.held() || stopped) return;
      const level = options.budgetLevel?.(app) ?? 'ok';
      if (level === 'suspended') continue;
      const waiting = pending.get(app);
      if (waiting !== undefined) {
        const entry = machines.find(({ record }) => record.id === waiting.machine);
        const stillStarted = entry?.status?.state === 'started' && entry.record.desired.state !== 'started';
        if (stillStarted && now - waiting.at < PENDING_LIMIT_MS) continue;
        pending.delete(app);
      }
      const idleMs = level === 'shrink' ? 0 : options.idleMs;
      const decision = planAutostop({ region, idleMs, machines, loads, idleFor });
      if (decision === undefined) {
        if (level === 'shrink') continue; // no machine starts for load near the cap
        const elsewhere = merged.servedElsewhere.get(app);
        await autostart(
          app,
          machines,
          loads,
          now,
          elsewhere !== undefined && now - elsewhere <= elsewhereWindowMs,
        );
        continue;
      }
      pending.set(app, { machine: decision.machine, at: now });
      const action = decision.suspend ? 'suspending' : 'stopping';
      log.info(
        { app, machine: decision.machine, idleMs: decision.idleMs, reason: 'idle', budget: level },
        `${action} idle machine${level === 'shrink' ? ' (its org is near its spending cap)' : ''}`,
      );
      try {
        await options.control.stop(app, decision.machine, { suspend: decision.suspend, reason: 'idle' });
      } catch (error) {
        pending.delete(app);
        log.warn(
          { app, machine: decision.machine, err: errorMessage(error) },
          `${action} idle machine failed`,
        );
      }
    }
  }

  /**
   * Every started machine over its soft_limit, or none started here while the region's requests
   * go to another region: start one more of the region's (one at a time per app).
   */
  async function autostart(
    app: string,
    machines: MachineEntry[],
    loads: Map<string, MachineLoad>,
    now: number,
    demandElsewhere: boolean,
  ): Promise<void> {
    const waiting = starting.get(app);
    if (waiting !== undefined) {
      const entry = machines.find(({ record }) => record.id === waiting.machine);
      if (entry?.status?.state !== 'started' && now - waiting.at < PENDING_LIMIT_MS) return;
      starting.delete(app);
    }
    // A dead host's machines take no requests: they neither count as room nor get woken.
    const reachable = options.reachable;
    const live = reachable === undefined ? machines : machines.filter(({ record }) => reachable(record));
    let wake = planAutostart({ region, machines: live, loads });
    let why = 'starting a machine: every started one is over its soft_limit';
    if (wake === undefined && demandElsewhere) {
      wake = planRegionalWake({ region, machines: live });
      why = "starting a machine: the region's requests went to another region";
    }
    if (wake === undefined) return;
    starting.set(app, { machine: wake.machine, at: now });
    log.info({ app, machine: wake.machine, reason: 'request' }, why);
    try {
      await options.control.start(app, wake.machine, 'request');
    } catch (error) {
      starting.delete(app);
      log.warn({ app, machine: wake.machine, err: errorMessage(error) }, 'starting a machine failed');
    }
  }

  async function tick(): Promise<void> {
    const now = Date.now();
    const own = await sample(now);
    if (lease.held()) await decide(own, now);
  }

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(async () => {
      try {
        await tick();
      } catch (error) {
        log.debug({ err: errorMessage(error) }, 'autostop pass skipped');
      }
      schedule();
    }, options.intervalMs);
  };
  schedule();

  return {
    touch: (machine) => clock.touch(machine, Date.now()),
    lease,
    stop() {
      stopped = true;
      clearTimeout(timer);
      controller.abort();
    },
  };
}
