/**
 * Writes files into a machine's root from the host without following the image's symlinks out of
 * it: an image may hold `etc -> /`, and a naive write to `<root>/etc/hosts` would land on the host.
 */
import { chmod, lchown, lstat, mkdir, readlink, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { NearbyError } from '../../errors.ts';

const MAX_LINKS = 40;

/** Resolves `path` (absolute inside the guest) to a host path under `root`, symlinks read as the
 *  guest would, so the result never leaves `root`. The last component is not followed. */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  let pending = posix.normalize(`/${path}`).split('/').filter(Boolean);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    if (part === '.') continue;
    const host = join(root, ...resolved, part);
    const isLast = pending.length === 0;
    const info = await lstat(host).catch(() => undefined);
    if (!isLast && info?.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw unsafePath(path, 'too many symbolic links');
      const target = await readlink(host);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...target.split('/').filter(Boolean), ...pending];
      continue;
    }
    resolved.push(part);
  }
  if (resolved.length === 0) throw unsafePath(path, 'it names the root itself');
  return join(root, ...resolved);
}

function unsafePath(path: string, why: string): NearbyError {
  return new NearbyError('MACHINE_FILE_INVALID', `cannot write machine file '${path}': ${why}`, {
    status: 400,
    hint: 'Use an absolute guest_path that names a file, such as /etc/app/config.toml.',
  });
}

export interface RootFile {
  path: string;
  content: string | Buffer;
  mode?: number;
}

/** `owner`: the host id of the machine's root (user namespaces), which then owns what is written. */
export async function writeRootFiles(root: string, files: RootFile[], owner?: number): Promise<void> {
  for (const file of files) {
    const target = await resolveInRoot(root, file.path);
    const made = await mkdir(dirname(target), { recursive: true });
    // A symlink (or directory) in the way is replaced: the machine config wins over the image.
    const existing = await lstat(target).catch(() => undefined);
    if (existing && !existing.isFile()) await rm(target, { recursive: true, force: true });
    await writeFile(target, file.content);
    await chmod(target, file.mode ?? 0o644);
    if (owner === undefined) continue;
    await lchown(target, owner, owner);
    // The directories mkdir made, from the first one down to the file's.
    for (let dir = dirname(target); made && dir.length >= made.length; dir = dirname(dir))
      await lchown(dir, owner, owner);
  }
}
