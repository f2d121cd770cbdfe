/**
 * What the enforcer does to an org's machines at the cap and when it comes back, through the
 * control plane (`BudgetMachineControl`: the API's own start and stop, so the machine record keeps
 * one writer and the start gate applies). Read only on a change of level, never every pass.
 */
import { errorMessage, isNearbyError } from '../errors.ts';
import { type AppRecord, keys, type MachineRecord } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import type { MachineRef } from './enforce.ts';

export interface BudgetMachineControl {
  start(app: string, id: string): Promise<void>;
  stop(app: string, id: string): Promise<void>;
}

/** The org's apps (one listing of `apps/`). */
export async function orgApps(store: Store, org: string): Promise<string[]> {
  return (await store.list<AppRecord>(keys.apps()))
    .filter((entry) => (entry.value.org_slug ?? 'personal') === org)
    .map((entry) => entry.value.name);
}

/**
 * Asks every machine of the org that should be running to stop (stopped, never destroyed; its
 * volumes, config and releases stay). Returns those asked, and whether that was every one.
 */
export async function stopOrgMachines(
  store: Store,
  apps: string[],
  control: BudgetMachineControl,
  onError: (machine: MachineRef, error: string) => void,
): Promise<{ stopped: MachineRef[]; complete: boolean }> {
  const stopped: MachineRef[] = [];
  let complete = true;
  for (const app of apps) {
    for (const { value: record } of await store.list<MachineRecord>(keys.machines(app))) {
      if (record.destroyed_at !== undefined || record.desired.state !== 'started') continue;
      const ref = { app, id: record.id };
      try {
        await control.stop(app, record.id);
        stopped.push(ref);
      } catch (error) {
        complete = false;
        onError(ref, errorMessage(error));
      }
    }
  }
  return { stopped, complete };
}

/**
 * Starts again the machines the enforcer stopped, unless someone changed them since (destroyed,
 * started, stopped by a person): those are left as they are. Returns those to retry.
 */
export async function startStoppedMachines(
  store: Store,
  machines: MachineRef[],
  control: BudgetMachineControl,
  onError: (machine: MachineRef, error: string) => void,
): Promise<MachineRef[]> {
  const failed: MachineRef[] = [];
  for (const ref of machines) {
    const record = (await store.get<MachineRecord>(keys.machine(ref.app, ref.id)))?.value;
    if (record === undefined || record.destroyed_at !== undefined) continue;
    if (record.desired.state !== 'stopped' || record.desired.reason !== 'budget') continue;
    try {
      await control.start(ref.app, ref.id);
    } catch (error) {
      // Still over a cap (raised, then lowered again): the next return starts it.
      if (isNearbyError(error, 'BUDGET_EXCEEDED')) continue;
      failed.push(ref);
      onError(ref, errorMessage(error));
    }
  }
  return failed;
}
