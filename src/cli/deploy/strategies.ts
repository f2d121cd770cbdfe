/**
 * How a release reaches a process group's machines: `rolling` (a few at a time, each checked),
 * `immediate` (all at once, unchecked), `canary` (one extra machine checked first, then rolling),
 * `bluegreen` (a full new set next to the old one, checked while cordoned, then swapped).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { NearbyError } from '../../errors.ts';
import type { DeployStrategy, MachineConfig, MachineView } from '../../model/mod.ts';
import { destroyAndWait } from '../machines-client.ts';
import { deployApi } from './api.ts';
import { createMachine, type DeployRun, replaceMachine } from './changes.ts';

/** Time for the edge proxy to put uncordoned machines in rotation before the old ones leave it. */
const SWAP_MS = 2000;

export interface GroupPlan {
  group: string;
  config: MachineConfig;
  /** The group's machines now (empty on its first deploy). */
  machines: MachineView[];
  /** How many machines a first deploy creates. */
  createCount: number;
  region?: string;
}

export interface StrategyOptions {
  strategy: DeployStrategy;
  /** `[deploy] max_unavailable`: a fraction of the group below 1, else a count. */
  maxUnavailable: number;
}

/** Runs `task` over `items`, at most `limit` at once; stops starting new ones after a failure or abort. */
export async function inPool<T>(
  items: T[],
  limit: number,
  signal: AbortSignal | undefined,
  task: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined && !signal?.aborted) {
      const item = items[next++];
      try {
        await task(item);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure !== undefined) throw failure;
  signal?.throwIfAborted();
}

export function batchSize(maxUnavailable: number, groupSize: number): number {
  return maxUnavailable < 1
    ? Math.max(1, Math.floor(maxUnavailable * groupSize))
    : Math.max(1, maxUnavailable);
}

export async function deployGroup(run: DeployRun, plan: GroupPlan, options: StrategyOptions): Promise<void> {
  const serves = (plan.config.services?.length ?? 0) > 0;
  if (plan.machines.length === 0) {
    const creations = Array.from({ length: plan.createCount }, () => plan.config);
    await inPool(creations, 1, run.signal, (config) =>
      createMachine(run, config, {
        region: plan.region,
        cordoned: false,
        checks: options.strategy !== 'immediate',
      }),
    );
    return;
  }
  switch (options.strategy) {
    case 'immediate':
      await inPool(plan.machines, plan.machines.length, run.signal, (machine) =>
        replaceMachine(run, machine, plan.config, { drain: false, checks: false }),
      );
      return;
    case 'canary':
      if (serves) await canary(run, plan);
      return rolling(run, plan, options, serves);
    case 'bluegreen':
      return blueGreen(run, plan);
    default:
      return rolling(run, plan, options, serves);
  }
}

async function rolling(run: DeployRun, plan: GroupPlan, options: StrategyOptions, serves: boolean) {
  const size = batchSize(options.maxUnavailable, plan.machines.length);
  // Draining is for zero downtime: pointless when the whole group goes at once, or serves nothing.
  const drain = serves && size < plan.machines.length;
  await inPool(plan.machines, size, run.signal, (machine) =>
    replaceMachine(run, machine, plan.config, { drain, checks: true }),
  );
}

/** One new machine, kept out of rotation, must pass its checks before any existing one changes. */
async function canary(run: DeployRun, plan: GroupPlan) {
  run.out(`  Canary for [${plan.group}]:`);
  const machine = await createMachine(run, plan.config, {
    region: plan.machines[0]?.region ?? plan.region,
    cordoned: true,
    checks: true,
  });
  await destroyAndWait(run.api, run.app, machine.id);
  run.journal.splice(
    run.journal.findIndex((change) => change.kind === 'created' && change.machine.id === machine.id),
    1,
  );
  run.out(`  Canary ${machine.id} passed; destroyed it, rolling out to the others`);
}

/** Green machines start cordoned next to the blue ones; once all pass, they take the traffic. */
async function blueGreen(run: DeployRun, plan: GroupPlan) {
  const { api, app, out } = run;
  out(`  Creating ${plan.machines.length} green machine(s) for [${plan.group}] next to the blue ones:`);
  const greens: MachineView[] = [];
  await inPool(plan.machines, plan.machines.length, run.signal, async (blue) => {
    greens.push(await createMachine(run, plan.config, { region: blue.region, cordoned: true, checks: true }));
  });
  run.signal?.throwIfAborted();
  for (const green of greens) await deployApi.cordon(api, app, green.id, false);
  out(`  Green machines healthy and in rotation: ${greens.map((m) => m.id).join(', ')}`);
  await delay(SWAP_MS);
  // From here the greens serve: the blues leave rotation, drain, and go.
  for (const blue of plan.machines) await deployApi.cordon(api, app, blue.id, true);
  await delay(SWAP_MS);
  run.journal.length = 0;
  for (const blue of plan.machines) {
    await destroyAndWait(api, app, blue.id);
    out(`  Blue machine ${blue.id} destroyed`);
  }
}

/**
 * Strategies that add machines cannot run with volumes: a new machine would get a new, empty volume
 * (Fly refuses them too). Bluegreen needs checks: without them nothing says the green machines are
 * ready.
 */
export function refuseUnfitStrategy(plans: GroupPlan[], strategy: DeployStrategy): void {
  if (strategy !== 'bluegreen' && strategy !== 'canary') return;
  const withVolumes = plans.find((plan) => (plan.config.mounts?.length ?? 0) > 0 && plan.machines.length > 0);
  if (withVolumes) {
    throw new NearbyError(
      'STRATEGY_NEEDS_NO_VOLUMES',
      `strategy "${strategy}" adds machines next to the running ones, and process group "${withVolumes.group}" mounts volumes: the new machines would start with empty volumes`,
      { hint: 'use strategy = "rolling" (or "immediate") for apps with [[mounts]]' },
    );
  }
  if (strategy !== 'bluegreen') return;
  for (const plan of plans) {
    const services = plan.config.services ?? [];
    if (services.length === 0) continue;
    const checks =
      services.reduce((sum, service) => sum + (service.checks?.length ?? 0), 0) +
      Object.keys(plan.config.checks ?? {}).length;
    if (checks === 0) {
      throw new NearbyError(
        'BLUEGREEN_NEEDS_CHECKS',
        `strategy "bluegreen" needs health checks, and the services of process group "${plan.group}" have none`,
        {
          hint: 'add [[http_service.checks]] (or [[services.tcp_checks]], [[services.http_checks]], [checks]) so the green machines are known to be healthy before they take the traffic, or use strategy = "rolling"',
        },
      );
    }
  }
}
