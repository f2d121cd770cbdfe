/**
 * The machine's copy-on-write root, mounted at `<dir>/bundle/rootfs`: an overlayfs whose lower layer
 * is the shared image rootfs, seen through an idmapped mount (`<dir>/lower`) so its files belong to
 * the machine's own range of host ids, and whose upper layer lives on the machine's root disk: an
 * ext4 filesystem in a sparse file (`<dir>/disk.img`, on a loop device, at `<dir>/disk`) that caps
 * what the machine can write. Every option is a path relative to `<dir>`, so the machine's
 * /proc/self/mountinfo names no host path. Survives stop/start (docs/isolation.md).
 */
import { existsSync, statSync } from 'node:fs';
import { chown, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCommand } from '../../run-command.ts';
import { makeVolumeFile } from '../../volumes/storage.ts';
import { overlayMountFailed, runtimeCommandFailed } from './errors.ts';

export interface OverlayPaths {
  /** The image rootfs, idmapped onto the machine's ids. */
  lower: string;
  /** The root disk's file and where it is mounted. */
  diskImage: string;
  disk: string;
  upper: string;
  work: string;
  merged: string;
}

/** How a machine's root is made: its host ids, the idmapping helper, and the root disk's size. */
export interface RootOptions {
  /** Absent: no user namespace, the image's ids are the host's (a plain bind mount). */
  hostId?: number;
  idCount: number;
  idmapMount: string;
  diskGb: number;
}

export function overlayPaths(dir: string): OverlayPaths {
  return {
    lower: join(dir, 'lower'),
    diskImage: join(dir, 'disk.img'),
    disk: join(dir, 'disk'),
    upper: join(dir, 'disk', 'upper'),
    work: join(dir, 'disk', 'work'),
    merged: join(dir, 'bundle', 'rootfs'),
  };
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

/** Whether `target` is a mount point (an overlay's root has a device number of its own). */
function overlayMountedAt(target: string): boolean {
  try {
    return statSync(target).dev !== statSync(dirname(target)).dev;
  } catch {
    return false;
  }
}

async function mount(target: string, args: string[], cwd?: string): Promise<void> {
  const result = await runCommand(args[0], args.slice(1), { cwd });
  if (result.code !== 0) throw overlayMountFailed(target, result.stderr || result.stdout);
}

/** Mounts what is not mounted yet (all of it after a host reboot); returns the paths. */
export async function mountOverlay(image: string, dir: string, root: RootOptions): Promise<OverlayPaths> {
  const paths = overlayPaths(dir);
  // The common case, a start after a stop: the overlay is still there. Its own device number says
  // so with two stats, without reading the host's whole mount table (5–15 ms on a busy host, on
  // the path of every stopped wake). Anything else is checked the long way below.
  if (overlayMountedAt(paths.merged)) return paths;
  if (await isMounted(paths.merged)) return paths;
  if (!(await isMounted(paths.disk))) {
    // 4 MB of journal instead of mkfs's 64: the root disk is sparse, and this is most of its cost.
    if (!existsSync(paths.diskImage))
      await makeVolumeFile(paths.diskImage, root.diskGb, { rootOwner: root.hostId ?? 0, journalMb: 4 });
    await mkdir(paths.disk, { recursive: true });
    // `loop` with autoclear: unmounting the disk detaches its loop device too.
    await mount(paths.disk, ['mount', '-t', 'ext4', '-o', 'loop,nosuid,nodev', paths.diskImage, paths.disk]);
  }
  const { hostId } = root;
  if (!(await isMounted(paths.lower))) {
    await mkdir(paths.lower, { recursive: true });
    await mount(
      paths.lower,
      hostId === undefined
        ? ['mount', '--bind', image, paths.lower]
        : [root.idmapMount, String(hostId), String(root.idCount), image, paths.lower],
    );
  }
  await mkdir(paths.upper, { recursive: true });
  await mkdir(paths.work, { recursive: true });
  await mkdir(paths.merged, { recursive: true });
  // The upper directory's owner is the owner of the machine's `/`: its root.
  if (hostId !== undefined) await chown(paths.upper, hostId, hostId);
  const options = 'lowerdir=lower,upperdir=disk/upper,workdir=disk/work';
  await mount(paths.merged, ['mount', '-t', 'overlay', 'overlay', '-o', options, 'bundle/rootfs'], dir);
  return paths;
}

async function unmountAll(target: string): Promise<void> {
  while (await isMounted(target)) {
    const result = await runCommand('umount', [target]);
    if (result.code !== 0) {
      // A process still holding a file open: detach it lazily rather than leaving the mount behind.
      const lazy = await runCommand('umount', ['-l', target]);
      if (lazy.code !== 0) throw runtimeCommandFailed(`umount ${target}`, lazy.stderr);
    }
  }
}

export async function unmountOverlay(dir: string): Promise<void> {
  const paths = overlayPaths(dir);
  // `<dir>/rootfs`: where sandboxes prepared before root disks and user namespaces had their root.
  for (const target of [paths.merged, paths.lower, paths.disk, join(dir, 'rootfs')]) await unmountAll(target);
}

/** A new image is a new root (as with a new Docker container): the writable layer starts empty. */
export async function resetOverlay(dir: string): Promise<void> {
  await unmountOverlay(dir);
  await rm(overlayPaths(dir).diskImage, { force: true });
}
