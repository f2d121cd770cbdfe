/**
 * The agent's volume work: makes each volume of its host exist at its size and mounted, takes
 * snapshots, removes destroyed volumes, and reports in `volume-status/…` and `snapshot-status/…`.
 * One operation per volume at a time; every step is idempotent, so a restart simply redoes it.
 */
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import {
  keys,
  type SnapshotRecord,
  type SnapshotStatus,
  type VolumeRecord,
  type VolumeStatus,
} from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { volumeErrors } from './errors.ts';
import {
  attachedLoops,
  copyVolumeFile,
  detachLoop,
  diskUsage,
  fileSize,
  filesystemBytes,
  GB,
  growFile,
  growFilesystem,
  isMounted,
  loopDevice,
  makeVolumeFile,
  mountVolume,
  refreshLoop,
  snapshotPath,
  unmount,
  volumePaths,
  whileFrozen,
} from './storage.ts';

export interface VolumeManagerOptions {
  store: Store;
  host: string;
  dataDir: string;
  log: Logger;
}

export class VolumeManager {
  readonly #o: VolumeManagerOptions;
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: VolumeManagerOptions) {
    this.#o = options;
  }

  /** For a machine about to start: the volume exists, is mounted and as big as asked; its host path. */
  async mountFor(app: string, volumeId: string): Promise<string> {
    const record = (await this.#o.store.get<VolumeRecord>(keys.volume(app, volumeId)))?.value;
    if (!record) throw volumeErrors.notFound(volumeId);
    if (record.desired === 'destroyed') throw volumeErrors.destroyed(volumeId);
    if (record.host !== this.#o.host) throw volumeErrors.wrongHost(volumeId, record.host, this.#o.host);
    await this.ensure(record);
    return volumePaths(this.#o.dataDir, volumeId).mount;
  }

  /** Makes the volume match its record; reports the outcome (a failure is reported, then thrown). */
  ensure(record: VolumeRecord): Promise<void> {
    return this.#locked(record.id, async () => {
      try {
        await this.#ensure(record);
      } catch (error) {
        await this.#report(record, { state: 'failed', error: (error as Error).message });
        throw error;
      }
    });
  }

  async #ensure(record: VolumeRecord): Promise<void> {
    const paths = volumePaths(this.#o.dataDir, record.id);
    const previous = await this.#status(record.id);
    if ((await fileSize(paths.image)) === undefined) {
      await this.#report(record, { state: 'creating', size_gb: record.size_gb });
      await mkdir(paths.dir, { recursive: true });
      if (record.snapshot_id) {
        const snapshot = snapshotPath(this.#o.dataDir, record.snapshot_id);
        if ((await fileSize(snapshot)) === undefined) throw volumeErrors.snapshotMissing(record.snapshot_id);
        await copyVolumeFile(snapshot, paths.image);
      } else if (record.source_volume_id) {
        const source = volumePaths(this.#o.dataDir, record.source_volume_id);
        await this.#locked(record.source_volume_id, () =>
          whileFrozen(source.mount, () => copyVolumeFile(source.image, paths.image)),
        );
      } else {
        await makeVolumeFile(paths.image, record.size_gb);
      }
      this.#o.log.info({ volume: record.id, app: record.app, size_gb: record.size_gb }, 'volume created');
    }
    const device = await loopDevice(paths.image);
    if (await growFile(paths.image, record.size_gb)) await refreshLoop(device);
    if (!(await isMounted(paths.mount))) await mountVolume(device, paths.mount);
    const fileBytes = (await fileSize(paths.image)) ?? 0;
    let fsBytes = await filesystemBytes(device);
    let pending: string | undefined;
    if (fsBytes < fileBytes) {
      if (await growFilesystem(device, paths.mount)) {
        fsBytes = await filesystemBytes(device);
        this.#o.log.info({ volume: record.id, bytes: fsBytes }, 'volume filesystem grown');
      } else {
        pending = `the filesystem grows to ${Math.round(fileBytes / GB)} GB when its machine restarts`;
      }
    }
    const next = {
      state: 'created' as const,
      size_gb: Math.round(fileBytes / GB),
      fs_bytes: fsBytes,
      pending,
      error: undefined,
    };
    if (
      previous?.state !== 'created' ||
      previous.fs_bytes !== fsBytes ||
      previous.size_gb !== next.size_gb ||
      previous.pending !== pending
    ) {
      await this.#report(record, next);
    }
  }

  /** Unmounts, detaches and deletes the volume's file (its snapshots stay). */
  destroy(record: VolumeRecord): Promise<void> {
    return this.#locked(record.id, async () => {
      if ((await this.#status(record.id))?.state === 'destroyed') return;
      await this.#report(record, { state: 'destroying' });
      const paths = volumePaths(this.#o.dataDir, record.id);
      if (await isMounted(paths.mount)) await unmount(paths.mount);
      for (const device of await attachedLoops(paths.image).catch(() => [])) await detachLoop(device);
      await rm(paths.dir, { recursive: true, force: true });
      await this.#report(record, { state: 'destroyed', fs_bytes: undefined });
      this.#o.log.info({ volume: record.id, app: record.app }, 'volume destroyed');
    });
  }

  /** Copies the volume, frozen if it is mounted, into the snapshot's file; reports its size. */
  snapshot(snapshot: SnapshotRecord): Promise<void> {
    return this.#locked(snapshot.volume_id, async () => {
      const statusKey = keys.snapshotStatus(this.#o.host, snapshot.id);
      const current = (await this.#o.store.get<SnapshotStatus>(statusKey))?.value;
      if (current && current.state !== 'creating') return;
      const report = (patch: Partial<SnapshotStatus>) =>
        this.#o.store.put<SnapshotStatus>(statusKey, {
          id: snapshot.id,
          volume_id: snapshot.volume_id,
          state: 'creating',
          updated_at: new Date().toISOString(),
          ...patch,
        });
      await report({});
      try {
        const paths = volumePaths(this.#o.dataDir, snapshot.volume_id);
        if ((await fileSize(paths.image)) === undefined) throw volumeErrors.notFound(snapshot.volume_id);
        const target = snapshotPath(this.#o.dataDir, snapshot.id);
        await mkdir(dirname(target), { recursive: true });
        await whileFrozen(paths.mount, () => copyVolumeFile(paths.image, target));
        const sizeGb = Math.round(((await fileSize(target)) ?? 0) / GB);
        await report({ state: 'created', size: await diskUsage(target), volume_size_gb: sizeGb });
        this.#o.log.info({ volume: snapshot.volume_id, snapshot: snapshot.id }, 'volume snapshot taken');
      } catch (error) {
        await report({ state: 'failed', error: (error as Error).message });
        throw error;
      }
    });
  }

  async #status(id: string): Promise<VolumeStatus | undefined> {
    return (await this.#o.store.get<VolumeStatus>(keys.volumeStatus(this.#o.host, id)))?.value;
  }

  async #report(record: VolumeRecord, patch: Partial<VolumeStatus>): Promise<void> {
    const base = (await this.#status(record.id)) ?? {
      id: record.id,
      app: record.app,
      state: 'creating' as const,
      size_gb: record.size_gb,
      updated_at: '',
    };
    const next: VolumeStatus = { ...base, ...patch, updated_at: new Date().toISOString() };
    // JSON drops undefined fields: a cleared error or pending note disappears from the record.
    await this.#o.store.put(keys.volumeStatus(this.#o.host, record.id), JSON.parse(JSON.stringify(next)));
  }

  #locked<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(work);
    this.#locks.set(id, next);
    void next
      .finally(() => {
        if (this.#locks.get(id) === next) this.#locks.delete(id);
      })
      .catch(() => {});
    return next;
  }
}
