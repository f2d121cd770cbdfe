/**
 * The control plane's machine operations: they only ever write desired state into the store
 * (`machines/<app>/<id>`); agents carry it out and report back in `machine-status/…`.
 */

import { refuseIfSuspended } from '../billing/gate.ts';
import { VM_PRESETS } from '../config/sizes.ts';
import {
  type AppRecord,
  type DesiredState,
  type HostRecord,
  hostIsUp,
  instanceId,
  keys,
  type MachineConfig,
  type MachineRecord,
  type MachineStatus,
  type MachineView,
  machineId,
  machineName,
  machineView,
  parseDurationMs,
  pushEvent,
} from '../model/mod.ts';
import type { ImageService } from '../oci/types.ts';
import { markStartStep } from '../start-steps.ts';
import { type Store, update } from '../store/mod.ts';
import { apiErrors } from './errors.ts';
import { newLease } from './leases.ts';
import { checkResize, pickHost, serializePlacement } from './scheduler.ts';
import { attachVolumes } from './volume-attach.ts';

export interface ControlPlane {
  store: Store;
  images: ImageService;
  defaultRegion: string;
  /** Aborted when the server shuts down: long requests (log follows, waits) end then. */
  shutdown?: AbortSignal;
}

export async function getApp(store: Store, app: string): Promise<AppRecord> {
  const entry = await store.get<AppRecord>(keys.app(app));
  if (!entry) throw apiErrors.appNotFound(app);
  return entry.value;
}

export async function getRecord(store: Store, app: string, id: string): Promise<MachineRecord> {
  const entry = await store.get<MachineRecord>(keys.machine(app, id));
  if (!entry || entry.value.destroyed_at) throw apiErrors.machineNotFound(app, id);
  return entry.value;
}

export async function getStatus(store: Store, record: MachineRecord): Promise<MachineStatus | undefined> {
  return (await store.get<MachineStatus>(keys.machineStatus(record.host, record.id)))?.value;
}

export async function viewOf(store: Store, record: MachineRecord): Promise<MachineView> {
  const [status, host] = await Promise.all([
    getStatus(store, record),
    store.get<HostRecord>(keys.host(record.host)),
  ]);
  const reachable = host !== undefined && hostIsUp(host.value);
  return machineView(record, status, { reachable: reachable || Boolean(record.destroyed_at) });
}

export interface CreateMachineInput {
  config: MachineConfig;
  name?: string;
  region?: string;
  skip_launch?: boolean;
  skip_service_registration?: boolean;
  /** Seconds: the machine is created leased to the caller. */
  lease_ttl?: number;
}

/** A named `size` becomes `guest` (explicit guest fields win), so agents only read `guest`. */
export function normalizeConfig(config: MachineConfig): MachineConfig {
  if (config.size === undefined) return config;
  const preset = VM_PRESETS[config.size];
  if (!preset) {
    const known = Object.keys(VM_PRESETS).filter(
      (name) => name.startsWith('shared') || name.startsWith('perf'),
    );
    throw apiErrors.invalid(`config.size: '${config.size}' is not a size; use one of ${known.join(', ')}`);
  }
  const { size, ...rest } = config;
  return {
    ...rest,
    guest: { cpu_kind: preset.cpu_kind, cpus: preset.cpus, memory_mb: preset.memory_mb, ...config.guest },
  };
}

export async function createMachine(
  cp: ControlPlane,
  app: string,
  input: CreateMachineInput,
  owner = 'api',
): Promise<MachineRecord> {
  await getApp(cp.store, app);
  // A machine created started is a start: refused while the org is suspended at its cap.
  if (!input.skip_launch) await refuseIfSuspended(cp.store, app);
  input = { ...input, config: normalizeConfig(input.config) };
  const region = input.region ?? cp.defaultRegion;
  const resolved = await cp.images.resolve(input.config.image);
  const id = machineId();
  const pick = async () =>
    (await pickHost(cp.store, { region, guest: input.config.guest, runtime: input.config.runtime })).name;
  // Placed one at a time: the record is written before the next create reads what hosts hold.
  return serializePlacement(async () => {
    // Volumes first: a machine runs on the host of its volumes.
    const placed = await attachVolumes(cp.store, {
      app,
      machineId: id,
      region,
      config: input.config,
      host: pick,
    });
    const now = new Date();
    const record: MachineRecord = {
      id,
      name: input.name ?? machineName(),
      app,
      region,
      host: placed.host ?? (await pick()),
      instance_id: instanceId(now.getTime()),
      config: placed.config,
      image_ref: resolved.ref,
      desired: { state: input.skip_launch ? 'stopped' : 'started', seq: 1, reason: 'api' },
      events: [{ type: 'launch', status: 'created', source: 'user', timestamp: now.getTime() }],
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      ...(input.skip_service_registration ? { skip_service_registration: true } : {}),
    };
    if (input.lease_ttl) record.lease = newLease(record, owner, input.lease_ttl, '');
    await cp.store.put(keys.machine(app, record.id), record, { expectRevision: 0 });
    return record;
  });
}

/** Replaces a machine's config: a new instance id, the old version is replaced by the agent. */
export async function updateMachine(
  cp: ControlPlane,
  app: string,
  id: string,
  input: CreateMachineInput & { current_version?: string },
): Promise<MachineRecord> {
  const current = await getRecord(cp.store, app, id);
  if (input.current_version && input.current_version !== current.instance_id) {
    throw apiErrors.machineState(id, `at version ${current.instance_id}`, `not ${input.current_version}`);
  }
  if (!input.skip_launch) await refuseIfSuspended(cp.store, app);
  const normalized = normalizeConfig(input.config);
  await checkResize(cp.store, current, normalized.guest);
  const resolved = await cp.images.resolve(normalized.image);
  const { config } = await attachVolumes(cp.store, {
    app,
    machineId: id,
    region: current.region,
    config: normalized,
    host: current.host,
    previous: current.config,
  });
  return changeRecord(cp.store, app, id, (record) => {
    const now = Date.now();
    return {
      ...record,
      name: input.name ?? record.name,
      config,
      previous_versions: [
        { instance_id: record.instance_id, replaced_at: new Date(now).toISOString() },
        ...(record.previous_versions ?? []),
      ].slice(0, 20),
      image_ref: resolved.ref,
      instance_id: instanceId(now),
      desired: {
        state: input.skip_launch ? 'stopped' : 'started',
        seq: record.desired.seq + 1,
        reason: 'deploy',
      },
      events: pushEvent(record.events, {
        type: 'update',
        status: 'replacing',
        source: 'user',
        timestamp: now,
      }),
    };
  });
}

/** `reason`: who wants it, shown in events and logs ('request' when the proxy wakes it). */
export async function startMachine(
  cp: ControlPlane,
  app: string,
  id: string,
  reason: DesiredState['reason'] = 'api',
): Promise<string> {
  markStartStep(id, 'api-start');
  const view = await viewOf(cp.store, await getRecord(cp.store, app, id));
  if (view.state === 'destroying') throw apiErrors.machineState(id, view.state, 'it cannot be started');
  await refuseIfSuspended(cp.store, app);
  await changeRecord(cp.store, app, id, (record) => ({
    ...record,
    desired: { state: 'started', seq: record.desired.seq + 1, reason },
  }));
  markStartStep(id, 'api-written');
  return view.state;
}

export async function stopMachine(
  cp: ControlPlane,
  app: string,
  id: string,
  options: { signal?: string; timeout?: string | number; reason?: DesiredState['reason'] } = {},
): Promise<string> {
  const view = await viewOf(cp.store, await getRecord(cp.store, app, id));
  const timeoutMs = parseDurationMs(options.timeout);
  if (options.timeout !== undefined && timeoutMs === undefined) {
    throw apiErrors.badRequest(`timeout: '${options.timeout}' is not a duration (use e.g. "30s" or 30)`);
  }
  const signal =
    options.signal && (options.signal.startsWith('SIG') ? options.signal : `SIG${options.signal}`);
  await changeRecord(cp.store, app, id, (record) => ({
    ...record,
    desired: {
      state: 'stopped',
      seq: record.desired.seq + 1,
      reason: options.reason ?? 'api',
      signal: signal ?? record.config.stop_config?.signal,
      timeout_ms: timeoutMs ?? parseDurationMs(record.config.stop_config?.timeout),
    },
  }));
  return view.state;
}

export async function destroyMachine(
  cp: ControlPlane,
  app: string,
  id: string,
  force: boolean,
): Promise<void> {
  const view = await viewOf(cp.store, await getRecord(cp.store, app, id));
  if (!force && ['started', 'starting', 'suspended', 'stopping'].includes(view.state)) {
    throw apiErrors.machineState(id, view.state, 'stop it first, or destroy with force=true');
  }
  await changeRecord(cp.store, app, id, (record) => ({
    ...record,
    desired: { state: 'destroyed', seq: record.desired.seq + 1, reason: 'api', signal: 'SIGKILL' },
    events: pushEvent(record.events, {
      type: 'destroy',
      status: 'destroying',
      source: 'user',
      timestamp: Date.now(),
    }),
  }));
}

export async function changeRecord(
  store: Store,
  app: string,
  id: string,
  change: (record: MachineRecord) => MachineRecord,
): Promise<MachineRecord> {
  const written = await update<MachineRecord>(store, keys.machine(app, id), (record) => {
    if (!record || record.destroyed_at) throw apiErrors.machineNotFound(app, id);
    return { ...change(record), updated_at: new Date().toISOString() };
  });
  return written as MachineRecord;
}

/** Machines of an app that are not destroyed (or all, with `includeDeleted`). */
export async function listRecords(
  store: Store,
  app: string,
  includeDeleted = false,
): Promise<MachineRecord[]> {
  const records = (await store.list<MachineRecord>(keys.machines(app))).map((e) => e.value);
  return records
    .filter((r) => includeDeleted || !r.destroyed_at)
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
}
