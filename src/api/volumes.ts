/**
 * The control plane's volume operations: they write desired state (`volumes/…`,
 * `volume-snapshots/…`) and the volume's agent carries it out. A volume is held by at most one
 * machine; a machine that is destroyed (or was never written) holds nothing.
 */
import {
  keys,
  type MachineRecord,
  type SnapshotRecord,
  type SnapshotStatus,
  snapshotId,
  type VolumeRecord,
  type VolumeStatus,
  type VolumeView,
  volumeId,
  volumeView,
} from '../model/mod.ts';
import { type Store, update, values } from '../store/mod.ts';
import { getApp } from './machines.ts';
import { pickHost } from './scheduler.ts';
import { volumeApiErrors } from './volume-errors.ts';

export const MAX_VOLUME_GB = 500;
const NAME_PATTERN = /^[a-zA-Z0-9_]{1,30}$/;

export interface CreateVolumeInput {
  name: string;
  region?: string;
  size_gb?: number;
  snapshot_id?: string;
  source_volume_id?: string;
}

export interface SnapshotView {
  id: string;
  volume_id: string;
  status: SnapshotStatus['state'] | 'pending';
  /** Bytes on disk (the copy is sparse). */
  size: number;
  volume_size_gb?: number;
  created_at: string;
  error?: string;
}

export async function record(store: Store, app: string, id: string): Promise<VolumeRecord> {
  const entry = await store.get<VolumeRecord>(keys.volume(app, id));
  if (!entry) throw volumeApiErrors.notFound(app, id);
  return entry.value;
}

/** The machine holding the volume, if it still exists. */
export async function holder(store: Store, volume: VolumeRecord): Promise<string | null> {
  if (!volume.attached_machine_id) return null;
  const machine = (await store.get<MachineRecord>(keys.machine(volume.app, volume.attached_machine_id)))
    ?.value;
  return machine && !machine.destroyed_at ? machine.id : null;
}

export async function viewVolume(store: Store, volume: VolumeRecord): Promise<VolumeView> {
  const status = (await store.get<VolumeStatus>(keys.volumeStatus(volume.host, volume.id)))?.value;
  return volumeView(volume, status, await holder(store, volume));
}

export async function getVolume(store: Store, app: string, id: string): Promise<VolumeView> {
  await getApp(store, app);
  return viewVolume(store, await record(store, app, id));
}

/** Volumes not being destroyed, oldest first. */
export async function listVolumes(store: Store, app: string): Promise<VolumeView[]> {
  await getApp(store, app);
  const records = (await values<VolumeRecord>(store, keys.volumes(app)))
    .filter((volume) => volume.desired !== 'destroyed')
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  return Promise.all(records.map((volume) => viewVolume(store, volume)));
}

export async function createVolume(
  store: Store,
  app: string,
  input: CreateVolumeInput,
  defaultRegion: string,
  /** Where a volume made for a machine goes: the machine's host. */
  onHost?: string,
): Promise<VolumeRecord> {
  await getApp(store, app);
  if (!NAME_PATTERN.test(input.name)) throw volumeApiErrors.badName(input.name);
  const region = input.region ?? defaultRegion;
  let size = input.size_gb;
  let host = onHost;
  if (input.snapshot_id) {
    const snapshot = (await listSnapshotRecords(store, app)).find((s) => s.id === input.snapshot_id);
    if (!snapshot) throw volumeApiErrors.snapshotNotFound(app, input.snapshot_id);
    const status = await snapshotStatus(store, snapshot);
    if (status?.state !== 'created')
      throw volumeApiErrors.snapshotNotReady(snapshot.id, status?.state ?? 'pending');
    host = snapshot.host;
    size = Math.max(size ?? 0, status.volume_size_gb ?? 1);
  } else if (input.source_volume_id) {
    const source = await record(store, app, input.source_volume_id);
    if (source.desired === 'destroyed') throw volumeApiErrors.destroyed(source.id);
    host = source.host;
    size = Math.max(size ?? 0, source.size_gb);
  }
  size ??= 1;
  if (!Number.isInteger(size) || size < 1 || size > MAX_VOLUME_GB) throw volumeApiErrors.badSize(size);
  host ??= (await pickHost(store, { region, volume: true })).name;
  const now = new Date().toISOString();
  const volume: VolumeRecord = {
    id: volumeId(),
    name: input.name,
    app,
    region,
    host,
    size_gb: size,
    ...(input.snapshot_id ? { snapshot_id: input.snapshot_id } : {}),
    ...(input.source_volume_id ? { source_volume_id: input.source_volume_id } : {}),
    attached_machine_id: null,
    desired: 'created',
    created_at: now,
    updated_at: now,
  };
  await store.put(keys.volume(app, volume.id), volume, { expectRevision: 0 });
  return volume;
}

/** Grows a volume: the agent grows its file and filesystem (online when the host allows it). */
export async function extendVolume(
  store: Store,
  app: string,
  id: string,
  sizeGb: number,
): Promise<VolumeRecord> {
  const current = await record(store, app, id);
  if (current.desired === 'destroyed') throw volumeApiErrors.destroyed(id);
  if (!Number.isInteger(sizeGb) || sizeGb > MAX_VOLUME_GB) throw volumeApiErrors.badSize(sizeGb);
  if (sizeGb <= current.size_gb) throw volumeApiErrors.cannotShrink(id, current.size_gb, sizeGb);
  return (await update<VolumeRecord>(store, keys.volume(app, id), (volume) =>
    volume
      ? { ...volume, size_gb: Math.max(volume.size_gb, sizeGb), updated_at: new Date().toISOString() }
      : undefined,
  )) as VolumeRecord;
}

export async function destroyVolume(store: Store, app: string, id: string): Promise<void> {
  const current = await record(store, app, id);
  const machine = await holder(store, current);
  if (machine) throw volumeApiErrors.attached(id, machine);
  await update<VolumeRecord>(store, keys.volume(app, id), (volume) =>
    volume && volume.desired !== 'destroyed'
      ? { ...volume, desired: 'destroyed', attached_machine_id: null, updated_at: new Date().toISOString() }
      : undefined,
  );
}

export async function createSnapshot(store: Store, app: string, id: string): Promise<SnapshotRecord> {
  const volume = await record(store, app, id);
  if (volume.desired === 'destroyed') throw volumeApiErrors.destroyed(id);
  const snapshot: SnapshotRecord = {
    id: snapshotId(),
    app,
    volume_id: id,
    host: volume.host,
    created_at: new Date().toISOString(),
  };
  await store.put(keys.snapshot(app, id, snapshot.id), snapshot, { expectRevision: 0 });
  return snapshot;
}

async function listSnapshotRecords(store: Store, app: string, volume?: string): Promise<SnapshotRecord[]> {
  return values<SnapshotRecord>(store, keys.snapshots(app, volume));
}

async function snapshotStatus(store: Store, snapshot: SnapshotRecord): Promise<SnapshotStatus | undefined> {
  return (await store.get<SnapshotStatus>(keys.snapshotStatus(snapshot.host, snapshot.id)))?.value;
}

export async function viewSnapshot(store: Store, snapshot: SnapshotRecord): Promise<SnapshotView> {
  const status = await snapshotStatus(store, snapshot);
  return {
    id: snapshot.id,
    volume_id: snapshot.volume_id,
    status: status?.state ?? 'pending',
    size: status?.size ?? 0,
    ...(status?.volume_size_gb ? { volume_size_gb: status.volume_size_gb } : {}),
    created_at: snapshot.created_at,
    ...(status?.error ? { error: status.error } : {}),
  };
}

export async function listSnapshots(store: Store, app: string, id: string): Promise<SnapshotView[]> {
  await record(store, app, id);
  const snapshots = await listSnapshotRecords(store, app, id);
  snapshots.sort((a, b) => a.created_at.localeCompare(b.created_at));
  return Promise.all(snapshots.map((snapshot) => viewSnapshot(store, snapshot)));
}

/** With its app: every volume goes too (the agent unmounts it; a dying machine keeps its view until it exits). */
export async function destroyAppVolumes(store: Store, app: string): Promise<void> {
  for (const volume of await values<VolumeRecord>(store, keys.volumes(app))) {
    if (volume.desired === 'destroyed') continue;
    await update<VolumeRecord>(store, keys.volume(app, volume.id), (current) =>
      current && current.desired !== 'destroyed'
        ? {
            ...current,
            desired: 'destroyed',
            attached_machine_id: null,
            updated_at: new Date().toISOString(),
          }
        : undefined,
    );
  }
}
