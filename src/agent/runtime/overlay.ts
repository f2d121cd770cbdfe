/**
 * The machine's copy-on-write root: an overlayfs with the shared image rootfs as lower layer and the
 * machine's own upper/work directories, mounted at `<dir>/rootfs`. Survives stop/start.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../run-command.ts';
import { overlayMountFailed, runtimeCommandFailed } from './errors.ts';

export interface OverlayPaths {
  upper: string;
  work: string;
  merged: string;
}

export function overlayPaths(dir: string): OverlayPaths {
  return { upper: join(dir, 'upper'), work: join(dir, 'work'), merged: join(dir, 'rootfs') };
}

/** Mount points in /proc/self/mountinfo are octal-escaped (space = \040). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export async function isMounted(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((line) => {
    const field = line.split(' ')[4];
    return field !== undefined && unescapeMountPath(field) === target;
  });
}

export async function mountOverlay(lower: string, dir: string): Promise<OverlayPaths> {
  const paths = overlayPaths(dir);
  if (await isMounted(paths.merged)) return paths;
  await mkdir(paths.upper, { recursive: true });
  await mkdir(paths.work, { recursive: true });
  await mkdir(paths.merged, { recursive: true });
  const options = `lowerdir=${lower},upperdir=${paths.upper},workdir=${paths.work}`;
  const result = await runCommand('mount', ['-t', 'overlay', 'overlay', '-o', options, paths.merged]);
  if (result.code !== 0) throw overlayMountFailed(paths.merged, result.stderr);
  return paths;
}

export async function unmountOverlay(dir: string): Promise<void> {
  const { merged } = overlayPaths(dir);
  while (await isMounted(merged)) {
    const result = await runCommand('umount', [merged]);
    if (result.code !== 0) {
      // A process still holding a file open: detach it lazily rather than leaving the mount behind.
      const lazy = await runCommand('umount', ['-l', merged]);
      if (lazy.code !== 0) throw runtimeCommandFailed(`umount ${merged}`, lazy.stderr);
    }
  }
}
