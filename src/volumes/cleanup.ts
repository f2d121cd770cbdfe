/** `nearby host clean`: unmounts every volume of a data dir and detaches its loop devices. */
import { join } from 'node:path';
import { allLoops, detachLoop, mountPoints, unmount } from './storage.ts';

/** Returns how many volumes were unmounted. Machines using them must be gone first. */
export async function cleanVolumes(dataDir: string): Promise<number> {
  const root = `${join(dataDir, 'volumes')}/`;
  const mounted = (await mountPoints()).filter((dir) => dir.startsWith(root));
  for (const dir of mounted) await unmount(dir);
  for (const loop of await allLoops()) {
    if (loop.file.startsWith(root)) await detachLoop(loop.device);
  }
  return mounted.length;
}
