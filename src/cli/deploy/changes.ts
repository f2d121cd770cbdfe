/**
 * The machine changes a deploy makes — replace a machine's config, create one — each written to a
 * journal before it happens, so a failed or interrupted deploy can put every machine back.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { errorMessage } from '../../errors.ts';
import type { MachineConfig, MachineView } from '../../model/mod.ts';
import { pinnedImage } from '../../model/release.ts';
import { destroyAndWait, machinesApi } from '../machines-client.ts';
import { deployApi } from './api.ts';
import { type HealthOptions, waitHealthy } from './health.ts';

/**
 * How long a cordoned machine gets to finish the requests it has before it is replaced. The edge
 * proxy takes it out of rotation within milliseconds; this covers requests already on their way.
 */
const DRAIN_MS = 2000;

export type Change = { kind: 'replaced'; before: MachineView } | { kind: 'created'; machine: MachineView };

export interface DeployRun extends HealthOptions {
  /** Every change made so far, oldest first. */
  journal: Change[];
}

/**
 * Gives a machine a new config. With `drain`, it leaves the proxy's rotation first and comes back
 * only once the new version passes its checks, so no request meets a machine mid-replacement.
 */
export async function replaceMachine(
  run: DeployRun,
  machine: MachineView,
  config: MachineConfig,
  options: { drain: boolean; checks: boolean },
): Promise<MachineView> {
  const { api, app, out } = run;
  run.journal.push({ kind: 'replaced', before: machine });
  const drain = options.drain && !machine.cordoned;
  if (drain) {
    await deployApi.cordon(api, app, machine.id, true);
    out(`  Machine ${machine.id} out of rotation, draining…`);
    await delay(DRAIN_MS);
  }
  const updated = await machinesApi.update(api, app, machine.id, { config });
  out(`  Machine ${machine.id} [${group(machine)}] updating to version ${updated.instance_id}…`);
  await waitHealthy(run, updated, { checks: options.checks });
  if (drain) await deployApi.cordon(api, app, machine.id, false);
  return updated;
}

/** Creates and starts a machine; `cordoned` keeps it out of rotation until the caller lets it in. */
export async function createMachine(
  run: DeployRun,
  config: MachineConfig,
  options: { region?: string; cordoned: boolean; checks: boolean },
): Promise<MachineView> {
  const { api, app, out } = run;
  const machine = await machinesApi.create(api, app, {
    config,
    region: options.region,
    skip_launch: options.cordoned,
  });
  run.journal.push({ kind: 'created', machine });
  out(`  Machine ${machine.id} [${group(machine)}] created in ${machine.region}, starting…`);
  if (options.cordoned) {
    // Created stopped, cordoned, then started: it can never take a request before it is checked.
    await deployApi.cordon(api, app, machine.id, true);
    await machinesApi.start(api, app, machine.id);
  }
  await waitHealthy(run, machine, { checks: options.checks });
  return machine;
}

export const group = (machine: Pick<MachineView, 'config'>) =>
  machine.config.metadata?.fly_process_group ?? 'app';

/**
 * Undoes the journal, newest change first: replaced machines get their previous config (pinned to
 * the digest they ran) and cordon state back, created ones are destroyed. Never throws: it does
 * what it can and says what it could not.
 */
export async function rollBack(run: DeployRun): Promise<{ failures: string[] }> {
  const { api, app, out } = run;
  const failures: string[] = [];
  // Rollback must run to the end even when the deploy was interrupted.
  const calm: DeployRun = { ...run, signal: undefined, journal: [] };
  for (const change of [...run.journal].reverse()) {
    const id = change.kind === 'replaced' ? change.before.id : change.machine.id;
    try {
      if (change.kind === 'created') {
        await destroyAndWait(api, app, id);
        out(`  Machine ${id} destroyed`);
        continue;
      }
      const { before } = change;
      const current = await machinesApi.get(api, app, id);
      if (current.instance_id === before.instance_id) {
        if (current.cordoned !== before.cordoned) await deployApi.cordon(api, app, id, before.cordoned);
        continue;
      }
      if (!current.cordoned && !before.cordoned) await deployApi.cordon(api, app, id, true);
      const config = { ...before.config, image: pinnedImage(before.image_ref) };
      const restored = await machinesApi.update(api, app, id, { config });
      out(`  Machine ${id} back to its previous config (version ${restored.instance_id})…`);
      await waitHealthy(calm, restored, { checks: before.state === 'started' });
      if (!before.cordoned) await deployApi.cordon(api, app, id, false);
    } catch (error) {
      failures.push(`machine ${id}: ${errorMessage(error)}`);
      out(`  Machine ${id} could not be rolled back: ${errorMessage(error).split('\n')[0]}`);
    }
  }
  return { failures };
}
