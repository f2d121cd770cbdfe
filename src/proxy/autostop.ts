/**
 * The autostop loop of one region's proxy: every `intervalMs` it reads HAProxy's per-server
 * counters and asks the control plane to stop (or suspend) one idle machine per app, waiting for
 * that one to leave `started` before it considers the next; and, when every started machine of an
 * app is over its soft_limit, to start one more.
 */
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { MachineControl, MachineEntry } from './activator.ts';
import { planAutostart, planAutostop } from './autostop-plan.ts';
import { IdleClock, type MachineOfServer, parseShowStat } from './autostop-stats.ts';
import type { RuntimeApi } from './runtime-api.ts';

export interface AutostopOptions {
  api: RuntimeApi;
  control: MachineControl;
  region: string;
  intervalMs: number;
  idleMs: number;
  /** Every machine the proxy knows, with its latest status. */
  machines(): MachineEntry[];
  /** The machine behind a server slot. */
  machineOf: MachineOfServer;
  log: pino.Logger;
}

export interface Autostop {
  /** A request reached this machine without HAProxy's counters seeing it. */
  touch(machine: string): void;
  stop(): void;
}

/** A stop asked for and not carried out within this long no longer blocks the app's next one. */
const PENDING_LIMIT_MS = 60_000;

export const autostopDefaults = { intervalMs: 10_000, idleMs: 300_000 };

export function startAutostop(options: AutostopOptions): Autostop {
  const { log } = options;
  const clock = new IdleClock();
  /** app → the machine asked to stop, and when. */
  const pending = new Map<string, { machine: string; at: number }>();
  /** app → the machine asked to start for load, and when: one at a time per app. */
  const starting = new Map<string, { machine: string; at: number }>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function tick(): Promise<void> {
    const loads = parseShowStat(await options.api.command('show stat'), options.machineOf);
    const now = Date.now();
    clock.sample(loads, now);
    const byApp = new Map<string, MachineEntry[]>();
    for (const entry of options.machines()) {
      byApp.set(entry.record.app, [...(byApp.get(entry.record.app) ?? []), entry]);
    }
    for (const [app, machines] of byApp) {
      const waiting = pending.get(app);
      if (waiting !== undefined) {
        const entry = machines.find(({ record }) => record.id === waiting.machine);
        const stillStarted = entry?.status?.state === 'started' && entry.record.desired.state !== 'started';
        if (stillStarted && now - waiting.at < PENDING_LIMIT_MS) continue;
        pending.delete(app);
      }
      const decision = planAutostop({
        region: options.region,
        idleMs: options.idleMs,
        machines,
        loads,
        idleFor: (machine) => clock.idleMs(machine, now),
      });
      if (decision === undefined) {
        await autostartForLoad(app, machines, loads, now);
        continue;
      }
      pending.set(app, { machine: decision.machine, at: now });
      const action = decision.suspend ? 'suspending' : 'stopping';
      log.info(
        { app, machine: decision.machine, idleMs: decision.idleMs, reason: 'idle' },
        `${action} idle machine`,
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

  /** Every started machine over its soft_limit: start one more (one at a time per app). */
  async function autostartForLoad(
    app: string,
    machines: MachineEntry[],
    loads: ReturnType<typeof parseShowStat>,
    now: number,
  ): Promise<void> {
    const waiting = starting.get(app);
    if (waiting !== undefined) {
      const entry = machines.find(({ record }) => record.id === waiting.machine);
      if (entry?.status?.state !== 'started' && now - waiting.at < PENDING_LIMIT_MS) return;
      starting.delete(app);
    }
    const wake = planAutostart({ region: options.region, machines, loads });
    if (wake === undefined) return;
    starting.set(app, { machine: wake.machine, at: now });
    log.info(
      { app, machine: wake.machine, reason: 'request' },
      'starting a machine: every started one is over its soft_limit',
    );
    try {
      await options.control.start(app, wake.machine, 'request');
    } catch (error) {
      starting.delete(app);
      log.warn(
        { app, machine: wake.machine, err: errorMessage(error) },
        'starting a machine for load failed',
      );
    }
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
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
