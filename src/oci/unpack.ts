/**
 * Applies image layers (gzip, zstd or plain tar) in order into one rootfs, keeping what a container
 * needs (modes incl. setuid, owners, mtimes, symlinks verbatim, hardlinks, xattrs, devices) and never
 * writing outside the rootfs. A rootfs is built in a temp dir and renamed when complete.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  createReadStream,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { chmod, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import tar from 'tar-stream';
import { NearbyError } from '../errors.ts';
import { layerInvalid, layerUnsafe } from './errors.ts';
import { DirectoryCache, resolveEntry } from './safe-path.ts';
import { applyOpaque, applyWhiteout, LayerPaths, whiteoutKind } from './whiteouts.ts';

const isRoot = process.getuid?.() === 0;
// Read once: it tells which modes creation already yields, so most entries need no chmod.
const umask = process.umask();

export interface LayerFile {
  digest: string;
  /** Path of the (compressed) layer blob. */
  path: string;
}

export interface UnpackOptions {
  signal?: AbortSignal;
  /** Where to build before the final rename; a fresh `.tmp-` dir beside `target` by default. */
  temp?: string;
  /** Told about what could not be kept (an xattr the filesystem refuses), which does not fail the unpack. */
  onWarning?: (message: string) => void;
}

type TarHeader = tar.Header & { pax?: Record<string, string> | null };

/** A fresh temp dir name beside `target`, so the final rename stays on one file system. */
export function temporaryPath(target: string): string {
  return join(dirname(target), `.tmp-${basename(target).slice(0, 16)}-${randomBytes(6).toString('hex')}`);
}

/**
 * Builds `target` from `layers` unless it exists; a crash leaves only a `.tmp-` dir, never a half
 * rootfs. Blocks its thread for each file system call: ImageStore runs it in a worker (unpack-worker.ts).
 */
export async function unpackImage(
  layers: LayerFile[],
  target: string,
  options: UnpackOptions = {},
): Promise<string> {
  if (await exists(target)) return target;
  await mkdir(dirname(target), { recursive: true });
  const temp = options.temp ?? temporaryPath(target);
  await mkdir(temp, { mode: 0o755 });
  try {
    await chmod(temp, 0o755);
    const setgidDirectories = new Set<string>();
    for (const layer of layers) await applyLayer(temp, layer, options, setgidDirectories);
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return target; // another process finished it first
    throw error;
  }
  return target;
}

/** Applies one layer onto `root`, honouring whiteouts against what lower layers left there. */
export async function applyLayer(
  root: string,
  layer: LayerFile,
  options: UnpackOptions = {},
  setgidDirectories = new Set<string>(),
): Promise<void> {
  const extract = tar.extract();
  const source = createReadStream(layer.path);
  const decompressor = await decompressorFor(layer.path);
  const fail = (error: Error) => extract.destroy(error);
  let readError: Error | undefined;
  source.on('error', (error) => {
    readError = error;
    fail(error);
  });
  if (decompressor) {
    decompressor.on('error', (error) =>
      fail(layerInvalid(layer.digest, '', `cannot decompress: ${error.message}`, error)),
    );
    source.pipe(decompressor).pipe(extract as unknown as NodeJS.WritableStream);
  } else {
    source.pipe(extract as unknown as NodeJS.WritableStream);
  }
  const writer = new LayerWriter(root, layer.digest, options, setgidDirectories);
  let name = '';
  try {
    for await (const entry of extract) {
      options.signal?.throwIfAborted();
      const header = entry.header as TarHeader;
      name = header.name;
      // tar-stream reads a size field it cannot parse as null, and never ends the content of a
      // directory that claims some: either would wait for data forever.
      if (!Number.isSafeInteger(header.size) || header.size! < 0)
        throw layerInvalid(layer.digest, name, 'its size field is not a number');
      if (header.type === 'directory' && header.size! > 0)
        throw layerInvalid(layer.digest, name, `a directory entry claims ${header.size} bytes of content`);
      await writer.apply(header, entry as unknown as Readable);
      for await (const _ of entry) {
        // drain what an entry kind without content (or a skipped one) still carries
      }
    }
    name = '';
    writer.finish();
  } catch (error) {
    // The tar parser's own errors ("Invalid tar header", "Unexpected end of data") are the layer's too.
    if (error instanceof NearbyError || error === readError || options.signal?.aborted) throw error;
    throw layerInvalid(layer.digest, name, (error as Error).message, error);
  } finally {
    source.destroy();
  }
}

/**
 * Writes the entries of one layer; keeps the per-layer state whiteouts and directory mtimes need.
 * File system calls are synchronous: see safe-path.ts for why, and unpack-worker.ts for the thread.
 */
class LayerWriter {
  readonly #root: string;
  readonly #layer: string;
  readonly #options: UnpackOptions;
  readonly #setgidDirectories: Set<string>;
  readonly #written: LayerPaths;
  readonly #directories = new DirectoryCache();
  readonly #directoryTimes: [string, Date][] = [];

  constructor(root: string, layer: string, options: UnpackOptions, setgidDirectories: Set<string>) {
    this.#root = root;
    this.#layer = layer;
    this.#options = options;
    this.#setgidDirectories = setgidDirectories;
    this.#written = new LayerPaths(root);
  }

  async apply(header: TarHeader, content: Readable): Promise<void> {
    const resolved = resolveEntry(this.#root, this.#layer, header.name, this.#directories);
    if (!resolved) return; // the root itself ("./"): keep the rootfs dir as created
    const { parent, path, base } = resolved;
    const whiteout = whiteoutKind(base);
    if (whiteout) {
      this.#directories.clear();
      return whiteout === 'opaque' ? applyOpaque(parent, this.#written) : applyWhiteout(parent, base);
    }
    const mode = (header.mode ?? 0o644) & 0o7777;
    const createMode = mode & 0o777;
    switch (header.type) {
      case 'file':
      case 'contiguous-file': {
        const fd = this.#create(path, false, () => openSync(path, 'wx', createMode))!;
        try {
          for await (const chunk of content) writeAll(fd, chunk as Buffer);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'directory':
        this.#create(path, true, () => mkdirSync(path, { mode: createMode }));
        break;
      case 'symlink':
        // The target is kept byte for byte: absolute targets mean the rootfs, as the container sees it.
        this.#create(path, false, () => symlinkSync(header.linkname, path));
        break;
      case 'link':
        this.#hardlink(header, path);
        this.#written.add(path);
        return; // a hardlink shares its target's inode: no metadata of its own
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        const kind =
          header.type === 'fifo'
            ? ['p']
            : [header.type === 'block-device' ? 'b' : 'c', String(header.devmajor), String(header.devminor)];
        this.#create(path, false, () =>
          execFileSync('mknod', ['-m', '600', path, ...kind], { stdio: 'pipe' }),
        );
        break;
      }
      default:
        this.#options.onWarning?.(
          `layer ${this.#layer}: skipped entry "${header.name}" of unsupported type ${header.type}`,
        );
        return;
    }
    this.#written.add(path);
    this.#metadata(path, parent, header, mode);
  }

  /**
   * Sets directory mtimes last: writing their children changed them. A later entry may have
   * removed a directory, or replaced one of its ancestors with a symlink that leads out of the
   * rootfs: only directories still reached through directories are touched.
   */
  finish(): void {
    for (const [path, mtime] of this.#directoryTimes.reverse()) {
      if (reachedThroughDirectories(this.#root, path)) lutimesSync(path, mtime, mtime);
    }
  }

  /** Creates an entry; what a lower layer left in its place is removed first (a dir merges with a dir). */
  #create<T>(path: string, directory: boolean, make: () => T): T | undefined {
    try {
      return make();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (directory && lstatSync(path).isDirectory()) return undefined;
    rmSync(path, { recursive: true, force: true });
    this.#directories.clear();
    return make();
  }

  #hardlink(header: TarHeader, path: string): void {
    const linkname = header.linkname ?? '';
    if (linkname.startsWith('/') || linkname.split('/').includes('..')) {
      throw layerUnsafe(
        this.#layer,
        header.name,
        `its hardlink target "${linkname}" is not a relative path inside the image`,
      );
    }
    const target = resolveEntry(this.#root, this.#layer, linkname, this.#directories);
    const targetStats = target && lstatSync(target.path, { throwIfNoEntry: false });
    if (!target || !targetStats)
      throw layerInvalid(this.#layer, header.name, `hardlink target "${linkname}" does not exist`);
    if (targetStats.isDirectory())
      throw layerInvalid(this.#layer, header.name, `hardlink target "${linkname}" is a directory`);
    this.#create(path, false, () => linkSync(target.path, path));
  }

  #metadata(path: string, parent: string, header: TarHeader, mode: number): void {
    const uid = header.uid ?? 0;
    const gid = header.gid ?? 0;
    // Root creates entries as 0:0 unless a setgid parent hands down its group.
    if (isRoot && (uid !== 0 || gid !== 0 || this.#setgidDirectories.has(parent))) lchownSync(path, uid, gid);
    // chmod after chown (chown clears setuid/setgid), and only when creation under the umask fell short.
    const isFile = header.type === 'file' || header.type === 'contiguous-file';
    if (header.type !== 'symlink' && !(isFile && mode === (mode & 0o777 & ~umask))) chmodSync(path, mode);
    if (header.type === 'directory' && mode & 0o2000) this.#setgidDirectories.add(path);
    for (const [key, value] of Object.entries(header.pax ?? {})) {
      if (key.startsWith('SCHILY.xattr.'))
        this.#xattr(path, header.name, key.slice('SCHILY.xattr.'.length), value);
    }
    const mtime = header.mtime ?? new Date(0);
    if (header.type === 'directory') this.#directoryTimes.push([path, mtime]);
    else lutimesSync(path, mtime, mtime);
  }

  #xattr(path: string, entry: string, name: string, value: string): void {
    // Node has no setxattr; setfattr (package attr) runs only for the rare entries that carry one.
    const hex = `0x${Buffer.from(value, 'utf8').toString('hex')}`;
    try {
      execFileSync('setfattr', ['-h', '-n', name, '-v', hex, path], { stdio: 'pipe' });
    } catch (error) {
      const detail = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
      this.#options.onWarning?.(`layer ${this.#layer}: could not set xattr ${name} on "${entry}": ${detail}`);
    }
  }
}

function reachedThroughDirectories(root: string, path: string): boolean {
  for (let current = path; current.length > root.length; current = dirname(current)) {
    if (!lstatSync(current, { throwIfNoEntry: false })?.isDirectory()) return false;
  }
  return true;
}

function writeAll(fd: number, chunk: Buffer): void {
  let offset = 0;
  while (offset < chunk.length) offset += writeSync(fd, chunk, offset);
}

async function decompressorFor(path: string) {
  const file = await open(path, 'r');
  const magic = Buffer.alloc(4);
  try {
    await file.read(magic, 0, 4, 0);
  } finally {
    await file.close();
  }
  if (magic[0] === 0x1f && magic[1] === 0x8b) return createGunzip();
  if (magic.readUInt32LE(0) === 0xfd2fb528) return createZstdDecompress();
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
