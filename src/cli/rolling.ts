/**
 * Changes an app's machines one at a time, waiting for each to be started again before the next,
 * so an app with several machines keeps answering (scale vm/memory, secrets deploy).
 */
import { NearbyError } from '../errors.ts';
import type { MachineView } from '../model/mod.ts';
import type { ApiClient } from './client.ts';
import { waitLong } from './machines-client.ts';

export interface RollStep {
  /** Applies the change; returns the instance id to wait for (an update makes a new one). */
  apply(machine: MachineView): Promise<string | undefined>;
  /** Past-tense verb for progress lines: "updated", "restarted". */
  done: string;
}

export async function rollMachines(
  api: ApiClient,
  app: string,
  machines: MachineView[],
  step: RollStep,
  out: (text: string) => void,
  timeoutSeconds = 120,
): Promise<void> {
  for (const machine of machines) {
    const instanceId = await step.apply(machine);
    // Only machines that were running are waited for: a stopped one takes the change at its next start.
    if (machine.state !== 'started') {
      out(
        `  Machine ${machine.id} ${step.done} (it was ${machine.state}; the change applies at its next start)`,
      );
      continue;
    }
    try {
      await waitLong(api, app, machine.id, 'started', timeoutSeconds, instanceId);
    } catch (error) {
      throw new NearbyError('ROLLOUT_FAILED', `machine ${machine.id} did not start again after the change`, {
        hint: `the machines after it were left as they were; see \`nearby machine status ${machine.id} -a ${app}\` and \`nearby logs -a ${app}\``,
        cause: error,
      });
    }
    out(`  Machine ${machine.id} ${step.done} and started`);
  }
}
