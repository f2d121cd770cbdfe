/**
 * Maps tar entry names to host paths inside a rootfs, resolving symlinks as the container would see
 * them (an absolute target is relative to the rootfs), so that no entry can write outside it.
 * Synchronous on purpose: the unpacker runs in a worker thread, where sync calls avoid a thread-pool
 * round trip per file system call (3x faster on images with thousands of files).
 */
import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { layerInvalid, layerUnsafe } from './errors.ts';

const MAX_SYMLINKS = 40;

/** The components of an entry name (`./usr/bin/x` → usr, bin, x); refuses absolute names and `..`. */
export function entryComponents(layer: string, name: string): string[] {
  if (name.startsWith('/')) throw layerUnsafe(layer, name, 'absolute paths are not allowed in a layer');
  if (name.includes('\0')) throw layerUnsafe(layer, name, 'the name contains a NUL byte');
  const components = name.split('/').filter((component) => component !== '' && component !== '.');
  if (components.includes('..')) throw layerUnsafe(layer, name, '".." components are not allowed in a layer');
  return components;
}

interface PendingComponent {
  name: string;
  /** Came from an absolute symlink target: `..` at the root stays at the root, as in a chroot. */
  fromAbsolute: boolean;
}

/**
 * The host path of the directory `components` names, following symlinks in rootfs scope and
 * creating missing directories (mode 0755) on the way. Throws IMAGE_LAYER_UNSAFE when a relative
 * symlink climbs above the rootfs, IMAGE_LAYER_INVALID when a component is not a directory.
 */
export function resolveDirectory(root: string, components: string[], layer: string, entry: string): string {
  const resolved: string[] = [];
  const pending: PendingComponent[] = components.map((name) => ({ name, fromAbsolute: false }));
  let symlinks = 0;
  while (pending.length > 0) {
    const { name, fromAbsolute } = pending.shift()!;
    if (name === '' || name === '.') continue;
    if (name === '..') {
      if (resolved.length > 0) resolved.pop();
      else if (!fromAbsolute)
        throw layerUnsafe(layer, entry, 'a symlink on its path climbs above the image root');
      continue;
    }
    const hostPath = join(root, ...resolved, name);
    const stats = lstatSync(hostPath, { throwIfNoEntry: false });
    if (!stats) {
      mkdirSync(hostPath, { mode: 0o755 });
      resolved.push(name);
    } else if (stats.isDirectory()) {
      resolved.push(name);
    } else if (stats.isSymbolicLink()) {
      if (++symlinks > MAX_SYMLINKS)
        throw layerUnsafe(layer, entry, 'too many levels of symlinks on its path');
      const target = readlinkSync(hostPath);
      const absolute = target.startsWith('/');
      if (absolute) resolved.length = 0;
      const expanded = target.split('/').map((part) => ({ name: part, fromAbsolute: absolute }));
      pending.unshift(...expanded);
    } else {
      throw layerInvalid(layer, entry, `"/${[...resolved, name].join('/')}" on its path is not a directory`);
    }
  }
  return join(root, ...resolved);
}

/**
 * Resolved directories by entry dir name. Only removals can make an entry stale (a dir replaced by
 * a symlink is first removed), so whoever removes anything in the rootfs calls `clear()`.
 */
export class DirectoryCache {
  readonly #resolved = new Map<string, string>();

  get(key: string): string | undefined {
    return this.#resolved.get(key);
  }

  set(key: string, hostPath: string): void {
    this.#resolved.set(key, hostPath);
  }

  clear(): void {
    this.#resolved.clear();
  }
}

/** Host path of an entry: its parent resolved in rootfs scope, its last component not followed. */
export function resolveEntry(
  root: string,
  layer: string,
  name: string,
  cache?: DirectoryCache,
): { parent: string; path: string; base: string } | undefined {
  const components = entryComponents(layer, name);
  const base = components.pop();
  if (base === undefined) return undefined;
  const key = components.join('/');
  let parent = cache?.get(key);
  if (parent === undefined) {
    parent = resolveDirectory(root, components, layer, name);
    cache?.set(key, parent);
  }
  return { parent, path: join(parent, base), base };
}
