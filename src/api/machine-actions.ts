/** Changes to a machine beyond start/stop/update: restart, suspend, cordon, metadata. */
import { type DesiredState, type MachineRecord, parseDurationMs, pushEvent } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { apiErrors } from './errors.ts';
import { type ControlPlane, changeRecord, getRecord, viewOf } from './machines.ts';

const signalName = (signal: string | undefined) =>
  signal && (signal.startsWith('SIG') ? signal : `SIG${signal}`);

export async function restartMachine(
  cp: ControlPlane,
  app: string,
  id: string,
  options: { signal?: string; timeout?: string },
): Promise<void> {
  const view = await viewOf(cp.store, await getRecord(cp.store, app, id));
  if (!['started', 'stopped', 'failed'].includes(view.state)) {
    throw apiErrors.machineState(id, view.state, 'only a started or stopped machine can be restarted');
  }
  const timeoutMs = parseDurationMs(options.timeout);
  if (options.timeout !== undefined && timeoutMs === undefined) {
    throw apiErrors.badRequest(`timeout: '${options.timeout}' is not a duration (use e.g. "30s" or 30)`);
  }
  await changeRecord(cp.store, app, id, (record) => ({
    ...record,
    desired: {
      state: 'started',
      seq: record.desired.seq + 1,
      reason: 'api',
      restart: true,
      signal: signalName(options.signal) ?? record.config.stop_config?.signal,
      timeout_ms: timeoutMs,
    },
  }));
}

export async function suspendMachine(
  cp: ControlPlane,
  app: string,
  id: string,
  reason: DesiredState['reason'] = 'api',
): Promise<void> {
  const view = await viewOf(cp.store, await getRecord(cp.store, app, id));
  if (view.state !== 'started' && view.state !== 'suspended') {
    throw apiErrors.machineState(id, view.state, 'only a started machine can be suspended');
  }
  await changeRecord(cp.store, app, id, (record) => ({
    ...record,
    desired: { state: 'suspended', seq: record.desired.seq + 1, reason },
  }));
}

export async function setCordoned(store: Store, app: string, id: string, cordoned: boolean): Promise<void> {
  await changeRecord(store, app, id, (record) => ({
    ...record,
    cordoned,
    events: pushEvent(record.events, {
      type: cordoned ? 'cordon' : 'uncordon',
      status: cordoned ? 'cordoned' : 'uncordoned',
      source: 'user',
      timestamp: Date.now(),
    }),
  }));
}

/** Metadata lives in `config.metadata`, as in the Machines API; changing it makes no new version. */
export async function changeMetadata(
  store: Store,
  app: string,
  id: string,
  key: string,
  value: string | undefined,
): Promise<MachineRecord> {
  return changeRecord(store, app, id, (record) => {
    const metadata = { ...record.config.metadata };
    if (value === undefined) delete metadata[key];
    else metadata[key] = value;
    return { ...record, config: { ...record.config, metadata } };
  });
}
