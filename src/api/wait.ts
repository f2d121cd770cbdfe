/** `GET …/wait`: block until a machine reaches a state, by watching its record and its status. */
import {
  keys,
  type MachineRecord,
  type MachineState,
  type MachineStatus,
  machineState,
} from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { apiErrors } from './errors.ts';

export async function waitForState(
  store: Store,
  record: MachineRecord,
  state: MachineState,
  timeoutMs: number,
  options: { instanceId?: string; signal?: AbortSignal } = {},
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  options.signal?.addEventListener('abort', () => controller.abort(), { once: true });
  let current: MachineRecord = record;
  let status: MachineStatus | undefined;
  let reached = false;
  const check = () => {
    const matchesVersion = !options.instanceId || current.instance_id === options.instanceId;
    // The state counts once the agent has carried out the latest request: right after a restart
    // the machine still says "started", and that must not end a wait for the restarted one.
    const caughtUp = !status || status.seq >= current.desired.seq || current.destroyed_at !== undefined;
    if (matchesVersion && caughtUp && machineState(current, status) === state) {
      reached = true;
      controller.abort();
    }
  };
  const follow = async <T>(key: string, apply: (value: T | undefined) => void) => {
    for await (const event of store.watch<T>(key, { signal: controller.signal })) {
      if (event.type === 'synced' || event.key !== key) continue;
      apply(event.type === 'put' ? event.value : undefined);
      check();
    }
  };
  try {
    await Promise.all([
      follow<MachineRecord>(keys.machine(record.app, record.id), (value) => {
        if (value) current = value;
      }),
      follow<MachineStatus>(keys.machineStatus(record.host, record.id), (value) => {
        status = value;
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
  if (!reached) throw apiErrors.waitTimeout(record.id, state, Math.round(timeoutMs / 1000));
}
