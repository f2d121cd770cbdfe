/**
 * `world up --host-disk-mb N`: each host's data dir on its own ext4 filesystem of N MB (an image
 * file in the world dir, loop-mounted), as a host's disk of that size: it can fill up without
 * filling this machine's (`npm run chaos` fills one). `down` unmounts them after `host clean`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';
import { sh } from './links.ts';
import { saveState, type WorldState } from './state.ts';

/** Makes and mounts the disk for a host's data dir. */
export async function mountHostDisk(state: WorldState, dataDir: string, sizeMb: number): Promise<void> {
  const image = join(state.dir, 'disks', `${dataDir.split('/').pop()}.ext4`);
  mkdirSync(join(state.dir, 'disks'), { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  await sh('truncate', ['-s', `${sizeMb}M`, image]);
  await sh('mkfs.ext4', ['-q', '-F', '-m', '0', image]);
  await sh('mount', ['-o', 'loop', image, dataDir]);
  state.hostDisks = [...(state.hostDisks ?? []), { image, mountpoint: dataDir }];
  saveState(state);
}

/** Unmounts every host's disk and removes its image (a disk already gone is fine). */
export async function removeHostDisks(state: WorldState): Promise<void> {
  for (const disk of state.hostDisks ?? []) {
    await runCommand('umount', [disk.mountpoint], { timeoutMs: 30_000 });
    rmSync(disk.image, { force: true });
  }
}
