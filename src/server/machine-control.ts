/**
 * The proxy's way to start and stop machines (scale to zero): through the control plane's own
 * operations, so machine records keep a single writer and events say why (request, idle).
 */
import { suspendMachine } from '../api/machine-actions.ts';
import { type ControlPlane, startMachine, stopMachine } from '../api/machines.ts';
import type { MachineControl } from '../proxy/mod.ts';

export function machineControl(cp: ControlPlane): MachineControl {
  return {
    async start(app, id, reason) {
      await startMachine(cp, app, id, reason);
    },
    async stop(app, id, { suspend, reason }) {
      if (suspend) await suspendMachine(cp, app, id, reason);
      else await stopMachine(cp, app, id, { reason });
    },
  };
}
