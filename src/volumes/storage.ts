/**
 * A volume on the host: an ext4 filesystem in a sparse file, on a loop device, mounted under the
 * data dir. The filesystem enforces the size; these helpers are the only code that runs
 * losetup, mkfs, resize2fs, fsfreeze and mount for volumes.
 */
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from '../run-command.ts';
import { volumeErrors } from './errors.ts';

export const GB = 1024 ** 3;

export interface VolumePaths {
  dir: string;
  /** The sparse file holding the filesystem. */
  image: string;
  /** Where the host mounts it; machines get a bind mount of this directory. */
  mount: string;
}

export function volumePaths(dataDir: string, id: string): VolumePaths {
  const dir = join(dataDir, 'volumes', id);
  return { dir, image: join(dir, 'volume.img'), mount: join(dir, 'data') };
}

export function snapshotPath(dataDir: string, id: string): string {
  return join(dataDir, 'volume-snapshots', `${id}.img`);
}

async function run(bin: string, args: string[], what: string, timeoutMs = 120_000): Promise<string> {
  const result = await runCommand(bin, args, { timeoutMs }).catch((error: Error) => {
    throw volumeErrors.commandFailed(what, error.message);
  });
  if (result.code !== 0) {
    throw volumeErrors.commandFailed(what, (result.stderr || result.stdout).trim() || `exit ${result.code}`);
  }
  return result.stdout;
}

export async function fileSize(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.size;
}

/** A new sparse file of `sizeGb` with an empty ext4 filesystem, written under a temporary name.
 *  `rootOwner`: the host id owning its root directory; `journalMb`: a smaller journal than mkfs's. */
export async function makeVolumeFile(
  image: string,
  sizeGb: number,
  options: { rootOwner?: number; journalMb?: number } = {},
): Promise<void> {
  const partial = `${image}.partial`;
  await rm(partial, { force: true });
  const handle = await open(partial, 'w');
  await handle.truncate(sizeGb * GB);
  await handle.close();
  // -m 0: no blocks reserved for root, so the machine gets the whole size it paid for.
  const extended = [
    'lazy_itable_init=1',
    ...(options.rootOwner === undefined ? [] : [`root_owner=${options.rootOwner}:${options.rootOwner}`]),
  ];
  const journal = options.journalMb === undefined ? [] : ['-J', `size=${options.journalMb}`];
  await run('mkfs.ext4', ['-q', '-F', '-m', '0', ...journal, '-E', extended.join(','), partial], 'mkfs.ext4');
  await rename(partial, image);
}

/** Copies a volume file (sparse-aware: holes stay holes) under a temporary name. */
export async function copyVolumeFile(from: string, to: string): Promise<void> {
  const partial = `${to}.partial`;
  await run('cp', ['--sparse=always', '--reflink=auto', from, partial], `copying ${from}`, 600_000);
  await rename(partial, to);
}

/** Grows the file to `sizeGb` (never shrinks it); true when it grew. */
export async function growFile(image: string, sizeGb: number): Promise<boolean> {
  const size = (await fileSize(image)) ?? 0;
  if (size >= sizeGb * GB) return false;
  const handle = await open(image, 'r+');
  await handle.truncate(sizeGb * GB);
  await handle.close();
  return true;
}

/** The loop device backing `image`: the one already attached, or a new one. */
export async function loopDevice(image: string): Promise<string> {
  const existing = await attachedLoops(image);
  if (existing[0]) return existing[0];
  return (await run('losetup', ['--find', '--show', image], 'losetup')).trim();
}

/** Loop devices whose backing file is `image`. */
export async function attachedLoops(image: string): Promise<string[]> {
  const out = await run('losetup', ['--associated', image, '--noheadings', '-O', 'NAME'], 'losetup');
  return out
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

/** Every loop device with its backing file (for cleaning a data dir). */
export async function allLoops(): Promise<{ device: string; file: string }[]> {
  const out = await run('losetup', ['--list', '--noheadings', '--raw', '-O', 'NAME,BACK-FILE'], 'losetup');
  return out
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const space = line.indexOf(' ');
      return { device: line.slice(0, space), file: unescapeMount(line.slice(space + 1)) };
    });
}

/** Tells the loop device its file grew. */
export async function refreshLoop(device: string): Promise<void> {
  await run('losetup', ['--set-capacity', device], 'losetup --set-capacity');
}

export async function detachLoop(device: string): Promise<void> {
  await run('losetup', ['--detach', device], 'losetup --detach');
}

/** Mount points in this mount namespace (from /proc/self/mountinfo). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMount(line.split(' ')[4]));
}

export async function isMounted(dir: string): Promise<boolean> {
  return (await mountPoints()).includes(dir);
}

export async function mountVolume(device: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('mount', ['-t', 'ext4', '-o', 'nosuid,nodev', device, dir], `mounting ${device}`);
}

export async function unmount(dir: string): Promise<void> {
  await run('umount', [dir], `unmounting ${dir}`);
}

/** Size of the ext4 filesystem on `device`, in bytes. */
export async function filesystemBytes(device: string): Promise<number> {
  const out = await run('dumpe2fs', ['-h', device], 'dumpe2fs');
  const field = (name: string) => Number(out.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1]);
  return field('Block count') * field('Block size');
}

/**
 * Grows the filesystem to its device. Online first (resize2fs on a mounted fs needs
 * CAP_SYS_RESOURCE, which some hosts withhold even from root); else unmounted, which e2fsck and
 * resize2fs refuse (the device is opened exclusively) while a machine still has it mounted.
 * Returns false when it has to wait for that machine to stop.
 */
export async function growFilesystem(device: string, mountDir: string): Promise<boolean> {
  const online = await runCommand('resize2fs', [device], { timeoutMs: 600_000 });
  if (online.code === 0) return true;
  const wasMounted = await isMounted(mountDir);
  if (wasMounted) await unmount(mountDir);
  try {
    for (let attempt = 1; ; attempt++) {
      const check = await runCommand('e2fsck', ['-f', '-p', device], { timeoutMs: 600_000 });
      // 0: clean, 1: errors fixed; 8 with "in use": a machine's mount namespace still holds it —
      // or a sandbox being created this instant copied the host's mounts: so ask a few times.
      if (check.code === 0 || check.code === 1) break;
      if (!/in use|busy/i.test(check.stderr + check.stdout)) {
        throw volumeErrors.commandFailed('e2fsck', (check.stderr || check.stdout).trim());
      }
      if (attempt === 3) return false;
      await sleep(200);
    }
    await run('resize2fs', [device], 'resize2fs', 600_000);
    return true;
  } finally {
    if (wasMounted) await mountVolume(device, mountDir);
  }
}

/**
 * Runs `copy` while the filesystem is frozen (fsfreeze), so the file under it is a consistent
 * image: writers in the machine wait for the few seconds the copy takes.
 */
export async function whileFrozen<T>(mountDir: string, copy: () => Promise<T>): Promise<T> {
  if (!(await isMounted(mountDir))) return copy();
  await run('fsfreeze', ['--freeze', mountDir], 'fsfreeze');
  try {
    return await copy();
  } finally {
    await run('fsfreeze', ['--unfreeze', mountDir], 'fsfreeze --unfreeze');
  }
}

/** Bytes a (sparse) file really occupies on disk. */
export async function diskUsage(path: string): Promise<number> {
  const info = await stat(path);
  return info.blocks * 512;
}

/** mountinfo escapes spaces and such as octal (`\040`), `losetup --raw` as hex (`\x20`). */
function unescapeMount(text: string): string {
  return text
    .replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
    .replace(/\\x([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}
