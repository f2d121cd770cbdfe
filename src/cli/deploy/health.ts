/**
 * When is a new machine version good? Started (this very instance), then its health checks all
 * passing — or, with no checks, still up a moment after starting. A failure carries the
 * machine's last output, so the user sees why without another command.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { NearbyError } from '../../errors.ts';
import type { MachineView } from '../../model/mod.ts';
import type { ApiCalls } from '../client.ts';
import { machinesApi } from '../machines-client.ts';
import { deployApi } from './api.ts';
import { followPull } from './pull-progress.ts';

/** How long a machine without checks must stay up after starting before it counts as good. */
const SETTLE_MS = 1500;
const POLL_MS = 500;

export interface HealthOptions {
  api: ApiCalls;
  app: string;
  out: (text: string) => void;
  /** How long the machine gets to start and pass its checks. */
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Why a machine without checks did not stay up, from its last exit (it may be restarting again). */
function whyNotUp(view: MachineView): string {
  const exit = view.nearby.exit;
  if (exit === undefined) return `is ${view.state} right after starting`;
  const how = exit.oom_killed
    ? 'was killed for using more memory than it has'
    : exit.signal
      ? `was killed by ${exit.signal}`
      : `exited with code ${exit.exit_code}`;
  const restarts = view.nearby.restarts;
  return restarts > 0 ? `${how} (restarted ${restarts} time${restarts === 1 ? '' : 's'})` : how;
}

/** Resolves once the machine's `instanceId` runs and passes its checks (`checks: false`: once it runs). */
export async function waitHealthy(
  options: HealthOptions,
  machine: MachineView,
  { checks = true }: { checks?: boolean } = {},
): Promise<void> {
  const { api, app, out, signal } = options;
  const deadline = Date.now() + options.timeoutMs;
  await followPull(options, machine, () => waitStarted(options, machine, deadline));
  out(`  Machine ${machine.id} started`);
  const hasChecks = countChecks(machine) > 0;
  if (!checks) return;
  if (!hasChecks) {
    await delay(SETTLE_MS, undefined, { signal });
    const view = await machinesApi.get(api, app, machine.id);
    if (view.state !== 'started' || view.nearby.restarts > 0) {
      throw await deployFailure(api, app, view, view.nearby.error ?? whyNotUp(view));
    }
    return;
  }
  let last = '';
  for (;;) {
    const { checks: results } = await deployApi.checks(api, app, machine.id, signal);
    const passing = results.filter((check) => check.status === 'passing').length;
    const summary =
      passing === results.length
        ? `checks passing (${passing}/${results.length})`
        : `checks ${passing}/${results.length} passing: ${results
            .filter((check) => check.status !== 'passing')
            .map((check) => `${check.name} ${check.output}`)
            .join('; ')}`;
    if (summary !== last) out(`  Machine ${machine.id} ${summary}`);
    last = summary;
    if (passing === results.length) return;
    const view = await machinesApi.get(api, app, machine.id);
    if (view.instance_id === machine.instance_id && ['stopped', 'failed', 'destroyed'].includes(view.state)) {
      throw await deployFailure(api, app, view, view.nearby.error ?? `is ${view.state} instead of started`);
    }
    if (view.instance_id === machine.instance_id && view.nearby.restarts > 0) {
      throw await deployFailure(
        api,
        app,
        view,
        view.nearby.error ?? `restarted ${view.nearby.restarts} time(s)`,
      );
    }
    if (Date.now() > deadline) {
      throw await deployFailure(
        api,
        app,
        view,
        `did not pass its health checks within ${Math.round(options.timeoutMs / 1000)}s (${summary.replace(/^checks /, '')})`,
      );
    }
    await delay(POLL_MS, undefined, { signal });
  }
}

export function countChecks(machine: Pick<MachineView, 'config'>): number {
  const serviceChecks = (machine.config.services ?? []).reduce((sum, s) => sum + (s.checks?.length ?? 0), 0);
  return serviceChecks + Object.keys(machine.config.checks ?? {}).length;
}

async function waitStarted(options: HealthOptions, machine: MachineView, deadline: number): Promise<void> {
  const { api, app, signal } = options;
  for (;;) {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    try {
      await deployApi.wait(
        api,
        app,
        machine.id,
        'started',
        Math.max(1, Math.min(60, left)),
        machine.instance_id,
        signal,
      );
      return;
    } catch (error) {
      if ((error as NearbyError).code !== 'WAIT_TIMEOUT') throw error;
      if (left <= 60) {
        const view = await machinesApi.get(api, app, machine.id);
        throw await deployFailure(
          api,
          app,
          view,
          view.nearby.error ??
            `did not start within ${Math.round(options.timeoutMs / 1000)}s (state: ${view.state})`,
        );
      }
    }
  }
}

/** DEPLOY_FAILED naming the machine and why, with its last 20 lines of output. */
export async function deployFailure(
  api: ApiCalls,
  app: string,
  view: MachineView,
  why: string,
): Promise<NearbyError> {
  const lines: string[] = [];
  const signal = AbortSignal.timeout(2000);
  try {
    for await (const line of deployApi.logs(api, app, view.id, { follow: false, tail: 200 }, signal)) {
      lines.push(`    ${line.stream === 'stderr' ? 'err ' : ''}${line.message}`);
    }
  } catch {}
  return new NearbyError(
    'DEPLOY_FAILED',
    `machine ${view.id} ${why}${lines.length ? `\n  Its last output:\n${lines.slice(-20).join('\n')}` : ''}`,
    { hint: `see \`nearby logs -a ${app}\` and \`nearby machine status ${view.id} -a ${app}\`` },
  );
}
