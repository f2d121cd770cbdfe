/**
 * OCI whiteouts: `.wh.<name>` deletes `<name>` of the lower layers, `.wh..wh..opq` hides all lower
 * content of its directory while keeping what the current layer itself wrote there.
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export function whiteoutKind(base: string): 'opaque' | 'whiteout' | undefined {
  if (base === OPAQUE_MARKER) return 'opaque';
  if (base.startsWith(WHITEOUT_PREFIX)) return 'whiteout';
  return undefined;
}

/** Host paths the current layer wrote, with all their ancestors, so opaque dirs keep them. */
export class LayerPaths {
  readonly root: string;
  readonly #touched = new Set<string>();

  constructor(root: string) {
    this.root = root;
  }

  add(path: string): void {
    let current = path;
    while (current.length > this.root.length && !this.#touched.has(current)) {
      this.#touched.add(current);
      current = dirname(current);
    }
  }

  has(path: string): boolean {
    return this.#touched.has(path);
  }
}

/** Removes `<dir>/<name>` for a `.wh.<name>` entry; a missing target is fine. */
export function applyWhiteout(directory: string, base: string): void {
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..' || name.includes('/')) return;
  rmSync(join(directory, name), { recursive: true, force: true });
}

/** Empties `directory` of everything the current layer did not write. */
export function applyOpaque(directory: string, written: LayerPaths): void {
  for (const name of readdirSync(directory)) {
    const child = join(directory, name);
    if (!written.has(child)) {
      rmSync(child, { recursive: true, force: true });
      continue;
    }
    if (lstatSync(child).isDirectory()) applyOpaque(child, written);
  }
}
