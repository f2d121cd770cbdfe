/**
 * Volumes: an ext4 filesystem of a fixed size on one host, mounted into one machine at a time.
 * The control plane writes what it wants (`volumes/<app>/<id>`, `volume-snapshots/<app>/<vol>/<id>`);
 * the volume's agent carries it out and reports (`volume-status/<host>/<id>`, `snapshot-status/…`).
 */
import { randomBytes } from 'node:crypto';

/** `volumes/<app>/<id>`: written by the control plane only. */
export interface VolumeRecord {
  id: string;
  name: string;
  app: string;
  region: string;
  host: string;
  /** The size asked for; the agent grows the file and the filesystem to it (never shrinks). */
  size_gb: number;
  /** Restore: the new volume starts as a copy of this snapshot. */
  snapshot_id?: string;
  /** Fork: the new volume starts as a copy of this volume (same host). */
  source_volume_id?: string;
  /** The machine that mounts it; a destroyed or missing machine no longer holds it. */
  attached_machine_id: string | null;
  /** 'destroyed' once a destroy was asked for; the agent then removes its file. */
  desired: 'created' | 'destroyed';
  created_at: string;
  updated_at: string;
}

export type VolumeState = 'creating' | 'created' | 'destroying' | 'destroyed' | 'failed';

/** `volume-status/<host>/<id>`: written by the agent of the volume's host only. */
export interface VolumeStatus {
  id: string;
  app: string;
  state: VolumeState;
  /** Size of the backing file, in GB. */
  size_gb: number;
  /** Size of the filesystem (what `df` shows inside the machine), in bytes. */
  fs_bytes?: number;
  /** Set while the filesystem is smaller than the file: it grows at the next machine start. */
  pending?: string;
  error?: string;
  updated_at: string;
}

/** `volume-snapshots/<app>/<volume>/<id>`: a snapshot asked for by the control plane. */
export interface SnapshotRecord {
  id: string;
  app: string;
  volume_id: string;
  host: string;
  created_at: string;
}

/** `snapshot-status/<host>/<id>`: the agent's report of the copy. */
export interface SnapshotStatus {
  id: string;
  volume_id: string;
  state: 'creating' | 'created' | 'failed';
  /** Bytes the snapshot holds on disk (it is sparse). */
  size?: number;
  /** The volume's size when it was taken: a restore is at least this big. */
  volume_size_gb?: number;
  error?: string;
  updated_at: string;
}

/** How a machine mounts a volume (Machines API `config.mounts[]`). */
export interface MachineMount {
  /** `vol_…`; without it the control plane attaches a free volume named `name`, or creates one. */
  volume?: string;
  path: string;
  name?: string;
  /** Size of a volume created for this mount (default 1). */
  size_gb?: number;
}

/** Volume and snapshot ids in Fly's shape: `vol_` + 16 lowercase letters and digits. */
export function volumeId(): string {
  return `vol_${randomId(16)}`;
}

export function snapshotId(): string {
  return `vs_${randomId(16)}`;
}

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';

function randomId(length: number): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const byte of bytes) id += alphabet[byte % alphabet.length];
  return id;
}

/** What the API shows: the record joined with its agent's status (Fly's field names). */
export interface VolumeView {
  id: string;
  name: string;
  app: string;
  state: VolumeState | 'pending';
  size_gb: number;
  region: string;
  zone: string;
  host: string;
  encrypted: false;
  fstype: 'ext4';
  attached_machine_id: string | null;
  snapshot_id?: string;
  source_volume_id?: string;
  /** The filesystem's size in bytes, as the agent measured it. */
  fs_bytes?: number;
  pending?: string;
  error?: string;
  created_at: string;
}

export function volumeView(
  record: VolumeRecord,
  status: VolumeStatus | undefined,
  attached: string | null,
): VolumeView {
  const state =
    record.desired === 'destroyed' && status?.state !== 'destroyed'
      ? 'destroying'
      : (status?.state ?? 'pending');
  return {
    id: record.id,
    name: record.name,
    app: record.app,
    state,
    size_gb: record.size_gb,
    region: record.region,
    zone: record.host,
    host: record.host,
    encrypted: false,
    fstype: 'ext4',
    attached_machine_id: attached,
    ...(record.snapshot_id ? { snapshot_id: record.snapshot_id } : {}),
    ...(record.source_volume_id ? { source_volume_id: record.source_volume_id } : {}),
    ...(status?.fs_bytes !== undefined ? { fs_bytes: status.fs_bytes } : {}),
    ...(status?.pending ? { pending: status.pending } : {}),
    ...(status?.error ? { error: status.error } : {}),
    created_at: record.created_at,
  };
}
