/**
 * Disks of a microVM: the image's rootfs as an ext4 file made once per image (`mkfs.ext4 -d`) and
 * never written again, and per machine a qcow2 overlay backed by it, so machines share the image
 * and each keeps its own writes (across stop/start, like a container's upper layer).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../../run-command.ts';
import { runtimeCommandFailed } from '../errors.ts';

/** Room for a machine's own writes beyond the image (the file is sparse: unused space costs nothing). */
const FREE_SPACE_BYTES = 1024 * 1024 * 1024;

async function treeBytes(dir: string): Promise<number> {
  const result = await runCommand('du', ['-sb', '--apparent-size', dir], { timeoutMs: 120_000 });
  if (result.code !== 0) throw runtimeCommandFailed(`du ${dir}`, result.stderr);
  return Number(result.stdout.split(/\s/)[0]);
}

/** The ext4 image of an unpacked rootfs, made on first use; concurrent callers wait for one build. */
const building = new Map<string, Promise<string>>();

export function baseDisk(cacheDir: string, rootfs: string): Promise<string> {
  const key = createHash('sha256').update(rootfs).digest('hex').slice(0, 24);
  const path = join(cacheDir, `${key}.ext4`);
  if (existsSync(path)) return Promise.resolve(path);
  let pending = building.get(path);
  if (!pending) {
    pending = buildDisk(rootfs, path).finally(() => building.delete(path));
    building.set(path, pending);
  }
  return pending;
}

async function buildDisk(rootfs: string, path: string): Promise<string> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const size = Math.ceil(((await treeBytes(rootfs)) * 1.2 + FREE_SPACE_BYTES) / 4096) * 4096;
  await writeFile(tmp, '');
  await truncate(tmp, size);
  // Owners, modes and xattrs are copied from the tree; the disk is only ever read (overlays write).
  const result = await runCommand('mkfs.ext4', ['-q', '-F', '-L', 'nearby-root', '-d', rootfs, tmp], {
    timeoutMs: 600_000,
  });
  if (result.code !== 0) {
    await rm(tmp, { force: true });
    throw runtimeCommandFailed(`mkfs.ext4 -d ${rootfs}`, result.stderr);
  }
  await rename(tmp, path);
  return path;
}

/** A fresh copy-on-write disk for a machine over `base`. */
export async function createOverlay(base: string, overlay: string): Promise<void> {
  await rm(overlay, { force: true });
  const result = await runCommand(
    'qemu-img',
    ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay],
    {
      timeoutMs: 60_000,
    },
  );
  if (result.code !== 0) throw runtimeCommandFailed(`qemu-img create ${overlay}`, result.stderr);
}
