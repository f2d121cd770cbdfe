/**
 * One release from start to end, whatever asked for it (`nearby deploy`, `nearby releases
 * rollback`): record it, run its release_command, roll it out group by group, and on failure or
 * Ctrl-C roll back and record how it ended.
 */
import type { AutoscaleConfig, DeployConfig } from '../../config/mod.ts';
import { errorMessage, type NearbyError } from '../../errors.ts';
import type { DeployStrategy, MachineView, ReleaseRecord } from '../../model/mod.ts';
import type { ApiCalls } from '../client.ts';
import { destroyAndWait, machinesApi } from '../machines-client.ts';
import { releasesApi } from './api.ts';
import { type DeployRun, group, rollBack } from './changes.ts';
import { runReleaseCommand } from './release-command.ts';
import { deployGroup, type GroupPlan, refuseUnfitStrategy } from './strategies.ts';

export interface ReleaseOptions {
  api: ApiCalls;
  app: string;
  out: (text: string) => void;
  signal: AbortSignal;
  /** The image as the user named it; the release records its digest. */
  image: string;
  strategy: DeployStrategy;
  /** One per process group of the new release, in rollout order. */
  plans: GroupPlan[];
  /** The app's machines before the deploy (release-command leftovers excluded). */
  existing: MachineView[];
  deploy?: DeployConfig;
  /** `[autoscale]`, recorded with the release for the autoscaler. */
  autoscale?: AutoscaleConfig;
  maxUnavailable: number;
  timeoutMs: number;
  autoRollback: boolean;
  region?: string;
  /** Where the app answers, for the summary; undefined for apps that serve nothing. */
  url: string;
}

/** Returns the exit code: 0 deployed, 130 interrupted (rolled back); throws why it failed. */
export async function runRelease(options: ReleaseOptions): Promise<number> {
  const { api, app, out, signal, plans, strategy, existing } = options;
  refuseUnfitStrategy(plans, strategy);
  const groups = plans.map((plan) => plan.group);
  const release = await releasesApi.create(api, app, {
    image: options.image,
    strategy,
    configs: Object.fromEntries(plans.map((plan) => [plan.group, plan.config])),
    ...(options.autoscale ? { autoscale: options.autoscale } : {}),
  });
  out(`==> Deploying ${app} v${release.version} (${strategy}): ${options.image}`);
  const run: DeployRun = { api, app, out, timeoutMs: options.timeoutMs, signal, journal: [] };
  try {
    if (options.deploy?.release_command) {
      await runReleaseCommand({
        api,
        app,
        out,
        base: plans[0].config,
        deploy: options.deploy,
        region: options.region,
        signal,
      });
    }
    await releasesApi.setStatus(api, app, release.version, 'running');
    for (const plan of plans) {
      signal.throwIfAborted();
      await deployGroup(run, plan, { strategy, maxUnavailable: options.maxUnavailable });
    }
    signal.throwIfAborted();
  } catch (error) {
    const noRollback = !options.autoRollback
      ? '[experimental] auto_rollback = false'
      : existing.length === 0
        ? 'this is the first deploy: there is no previous release to go back to'
        : undefined;
    return failed(run, release, error, noRollback);
  }
  for (const machine of existing.filter((m) => !groups.includes(group(m)))) {
    await destroyAndWait(api, app, machine.id);
    out(`  Machine ${machine.id} destroyed: process group "${group(machine)}" is no longer in the config`);
  }
  await releasesApi.setStatus(api, app, release.version, 'complete');
  const machines = (await machinesApi.list(api, app)).filter((m) => groups.includes(group(m)));
  out(`\n==> ${app} v${release.version} is deployed: ${summary(machines)}`);
  if (machines.some((m) => m.config.services?.length)) out(`Visit it at ${options.url}`);
  return 0;
}

/**
 * A failed or interrupted deploy: roll back (unless turned off), record how it ended, explain.
 * The first deploy of an app has no previous release: its machines stay, for `nearby logs`.
 */
async function failed(
  run: DeployRun,
  release: ReleaseRecord,
  error: unknown,
  noRollback: string | undefined,
): Promise<number> {
  const { api, app, out } = run;
  const interrupted = run.signal?.aborted === true;
  const reason = interrupted ? 'interrupted (Ctrl-C)' : errorMessage(error).split('\n')[0];
  let status: 'failed' | 'rolled_back' | 'interrupted' = interrupted ? 'interrupted' : 'failed';
  if (interrupted) out('\n==> Interrupted: stopped starting new work');
  if (!noRollback && run.journal.length > 0) {
    out(`\n==> Rolling back ${app} to the previous release`);
    const { failures } = await rollBack(run);
    if (failures.length === 0) {
      out('==> Rolled back: every machine runs the previous release again');
      if (!interrupted) status = 'rolled_back';
    } else {
      out(
        `==> Rollback left ${failures.length} machine(s) behind:\n${failures.map((f) => `  ${f}`).join('\n')}`,
      );
    }
  } else if (run.journal.length > 0) {
    out(`\n==> Not rolling back (${noRollback}): the machines changed so far keep the new release`);
  }
  await releasesApi.setStatus(api, app, release.version, status, reason).catch(() => {});
  if (interrupted) {
    process.stderr.write(`Deploy of ${app} v${release.version} interrupted; release recorded as ${status}\n`);
    return 130;
  }
  throw error as NearbyError;
}

function summary(machines: MachineView[]): string {
  const byGroup = new Map<string, number>();
  for (const machine of machines) byGroup.set(group(machine), (byGroup.get(group(machine)) ?? 0) + 1);
  const parts = [...byGroup].map(([name, count]) => `${count} [${name}]`);
  return `${machines.length} machine${machines.length === 1 ? '' : 's'} started (${parts.join(', ')})`;
}
