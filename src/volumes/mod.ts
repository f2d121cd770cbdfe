/**
 * The agent's volume part: ext4 files on loop devices, mounted on the host and bind-mounted into
 * machines. `startVolumes` follows the store; the machine reconciler asks `mountFor` at each start.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/mod.ts';
import { VolumeManager } from './manager.ts';
import { followSnapshots, followVolumes } from './reconciler.ts';

export { cleanVolumes } from './cleanup.ts';
export { VolumeManager } from './manager.ts';

/** What the machine reconciler needs of volumes: the host directory to bind-mount, ready to use. */
export interface VolumeMounter {
  mountFor(app: string, volumeId: string): Promise<string>;
}

export interface RunningVolumes {
  manager: VolumeManager;
  done: Promise<void>;
}

export function startVolumes(options: {
  store: Store;
  host: string;
  dataDir: string;
  log: Logger;
  signal: AbortSignal;
}): RunningVolumes {
  const { log } = options;
  const manager = new VolumeManager({ ...options, log });
  const stopped = (what: string) => (error: unknown) => {
    if (!options.signal.aborted) log.error({ err: error }, `volumes stopped ${what}`);
  };
  const done = Promise.all([
    followVolumes(options.store, options.host, manager, log, options.signal).catch(
      stopped('following volumes'),
    ),
    followSnapshots(options.store, options.host, manager, log, options.signal).catch(
      stopped('following snapshots'),
    ),
  ]).then(() => {});
  return { manager, done };
}
