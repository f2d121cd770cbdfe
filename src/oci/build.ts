/**
 * A small image writer: builds layers from entry lists (gzip, zstd or plain), an OCI config and a
 * manifest, deterministically, for tests and deploys. Paths are written verbatim, hostile ones too.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import tar from 'tar-stream';
import { hostPlatform, MEDIA } from './manifest.ts';
import type { ImageConfig } from './types.ts';
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from './whiteouts.ts';

export interface LayerSpec {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Symlink target (verbatim) or hardlink target (a path in the image). */
  target?: string;
  mtime?: Date;
  /** Written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, string>;
  devmajor?: number;
  devminor?: number;
}

export type Compression = 'gzip' | 'zstd' | 'none';

export interface BuiltLayer {
  mediaType: string;
  digest: string;
  /** Digest of the uncompressed tar, as the config's rootfs.diff_ids needs it. */
  diffId: string;
  size: number;
  data: Buffer;
}

export interface BuiltImage {
  mediaType: string;
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
  platform: { architecture: string; os: string };
}

export interface BuiltIndex {
  mediaType: string;
  manifest: Buffer;
  manifestDigest: string;
  images: BuiltImage[];
}

const DEFAULT_MTIME = new Date('2024-01-01T00:00:00Z');

/** A `.wh.<name>` entry: deletes `path` from the layers below. */
export function whiteout(path: string): LayerSpec {
  const dir = posix.dirname(path);
  return { path: posix.join(dir, `${WHITEOUT_PREFIX}${posix.basename(path)}`), type: 'file', content: '' };
}

/** A `.wh..wh..opq` entry: hides everything the layers below have in `dir`. */
export function opaque(dir: string): LayerSpec {
  return { path: posix.join(dir, OPAQUE_MARKER), type: 'file', content: '' };
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Packs entries into a tar and compresses it. */
export async function buildLayer(
  entries: LayerSpec[],
  compression: Compression = 'gzip',
): Promise<BuiltLayer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const spec of entries) {
    const header: Partial<tar.Header> & { name: string } = {
      name: spec.path,
      mode: spec.mode ?? (spec.type === 'dir' ? 0o755 : spec.type === 'symlink' ? 0o777 : 0o644),
      uid: spec.uid ?? 0,
      gid: spec.gid ?? 0,
      mtime: spec.mtime ?? DEFAULT_MTIME,
      type: tarType(spec.type),
      linkname: spec.target,
      devmajor: spec.devmajor ?? 0,
      devminor: spec.devminor ?? 0,
    };
    if (spec.xattrs) {
      (header as { pax?: Record<string, string> }).pax = Object.fromEntries(
        Object.entries(spec.xattrs).map(([name, value]) => [`SCHILY.xattr.${name}`, value]),
      );
    }
    const content = spec.type === 'file' ? Buffer.from(spec.content ?? '') : Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      pack.entry(header, content, (error) => (error ? reject(error) : resolve()));
    });
  }
  pack.finalize();
  await collected;
  const tarball = Buffer.concat(chunks);
  const data =
    compression === 'gzip' ? gzipSync(tarball) : compression === 'zstd' ? zstdCompressSync(tarball) : tarball;
  const mediaType =
    compression === 'gzip'
      ? MEDIA.ociLayerGzip
      : compression === 'zstd'
        ? MEDIA.ociLayerZstd
        : MEDIA.ociLayer;
  return { mediaType, digest: sha256(data), diffId: sha256(tarball), size: data.length, data };
}

/** Builds an OCI image from layers (entry lists or layers built before) and an image config. */
export async function buildImage(options: {
  layers: (LayerSpec[] | BuiltLayer)[];
  config: ImageConfig;
  architecture?: string;
  os?: string;
  compression?: Compression;
}): Promise<BuiltImage> {
  const layers: BuiltLayer[] = [];
  for (const layer of options.layers) {
    layers.push(Array.isArray(layer) ? await buildLayer(layer, options.compression) : layer);
  }
  const platform = {
    architecture: options.architecture ?? hostPlatform().architecture,
    os: options.os ?? 'linux',
  };
  const config = Buffer.from(
    JSON.stringify({
      created: DEFAULT_MTIME.toISOString(),
      ...platform,
      config: options.config,
      rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
      history: layers.map(() => ({ created: DEFAULT_MTIME.toISOString(), created_by: 'nearby buildImage' })),
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: configDigest, size: config.length },
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  return {
    mediaType: MEDIA.ociManifest,
    manifest,
    manifestDigest: sha256(manifest),
    config,
    configDigest,
    layers,
    platform,
  };
}

/** An image index over per-platform images, as multi-arch pushes make. */
export function buildIndex(images: BuiltImage[]): BuiltIndex {
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: images.map((image) => ({
        mediaType: image.mediaType,
        digest: image.manifestDigest,
        size: image.manifest.length,
        platform: image.platform,
      })),
    }),
  );
  return { mediaType: MEDIA.ociIndex, manifest, manifestDigest: sha256(manifest), images };
}

function tarType(type: LayerSpec['type']): tar.Header['type'] {
  const types = {
    file: 'file',
    dir: 'directory',
    symlink: 'symlink',
    hardlink: 'link',
    fifo: 'fifo',
    char: 'character-device',
    block: 'block-device',
  } as const;
  return types[type];
}
