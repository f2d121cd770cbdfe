/**
 * Follows the store for the volumes and snapshots of this host and hands each change to the
 * volume manager. Level-triggered: after a restart every record is seen again and redone if needed.
 * Both loops use the resuming watch (`follow`): a store outage pauses them, it never ends them.
 */
import type { Logger } from 'pino';
import { keys, type SnapshotRecord, type VolumeRecord } from '../model/mod.ts';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/mod.ts';
import type { VolumeManager } from './manager.ts';

/** What the loops ask of the manager. */
export type VolumeWork = Pick<VolumeManager, 'ensure' | 'destroy' | 'snapshot'>;

export async function followVolumes(
  store: Store,
  host: string,
  manager: VolumeWork,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const changes = follow<VolumeRecord>(store, keys.volumes(), { signal, log, what: 'volumes watch' });
  for await (const event of changes) {
    if (event.type !== 'put' || event.value.host !== host) continue;
    const record = event.value;
    const work = record.desired === 'destroyed' ? manager.destroy(record) : manager.ensure(record);
    work.catch((error: Error) => log.error({ volume: record.id, err: error }, `volume: ${error.message}`));
  }
}

export async function followSnapshots(
  store: Store,
  host: string,
  manager: VolumeWork,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  const changes = follow<SnapshotRecord>(store, keys.snapshots(), { signal, log, what: 'snapshots watch' });
  for await (const event of changes) {
    if (event.type !== 'put' || event.value.host !== host) continue;
    const snapshot = event.value;
    manager
      .snapshot(snapshot)
      .catch((error: Error) =>
        log.error(
          { volume: snapshot.volume_id, snapshot: snapshot.id, err: error },
          `snapshot: ${error.message}`,
        ),
      );
  }
}
