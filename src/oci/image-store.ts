/**
 * ImageStore: resolves references against any OCI registry, pulls missing blobs into the shared
 * blob cache (digests verified), and unpacks each image once into `<dir>/rootfs/<manifest hex>`.
 */
import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NearbyError } from '../errors.ts';
import type { CredentialsLookup } from './auth.ts';
import { BlobCache, digestHex } from './blob-cache.ts';
import { manifestUnsupported, pullFailed } from './errors.ts';
import { type Descriptor, type ImageManifest, parseManifest, selectPlatform } from './manifest.ts';
import { PullTally, type PullTotals } from './pull-progress.ts';
import { formatReference, parseReference } from './reference.ts';
import { RegistryClient } from './registry-client.ts';
import type { ImageConfig, ImageService, PulledImage, PullProgress, ResolvedImage } from './types.ts';
import { unpackInWorker } from './unpack-worker.ts';

/** The part of a pino logger the store uses. */
export interface ImageLog {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
}

export interface ImageStoreOptions {
  /** Cache directory: `blobs/sha256/<hex>` and `rootfs/<hex>` live under it. */
  dir: string;
  insecureRegistries?: string[];
  credentials?: CredentialsLookup;
  log?: ImageLog;
  /** Platform picked from image indexes; the host's by default. */
  platform?: { architecture: string; os: string };
  /** The fetch to use; tests pass one that counts requests. */
  fetch?: typeof fetch;
}

export interface PullOptions {
  signal?: AbortSignal;
  /** Each chunk of each layer fetched. */
  onProgress?: (progress: PullProgress) => void;
  /** The whole image's bytes and layers so far (cached layers count as done): at the start, per chunk, at the end. */
  onTotals?: (totals: PullTotals) => void;
}

interface Resolution {
  resolved: ResolvedImage;
  display: string;
  manifest: ImageManifest;
  /** Digest of the platform manifest (the index's entry for an index): what the rootfs is keyed by. */
  manifestDigest: string;
}

const LAYER_DOWNLOADS = 3;
const STALE_TEMP_MS = 60 * 60 * 1000;

export class ImageStore implements ImageService {
  readonly dir: string;
  readonly blobs: BlobCache;
  readonly #client: RegistryClient;
  readonly #options: ImageStoreOptions;
  readonly #unpacks = new Map<string, Promise<string>>();
  #swept: Promise<void> | undefined;

  constructor(options: ImageStoreOptions) {
    this.dir = options.dir;
    this.#options = options;
    this.blobs = new BlobCache(options.dir);
    this.#client = new RegistryClient(options);
  }

  /** @throws NearbyError IMAGE_REF_INVALID, IMAGE_NOT_FOUND, REGISTRY_UNREACHABLE, REGISTRY_AUTH_FAILED, IMAGE_DIGEST_MISMATCH, IMAGE_PULL_FAILED */
  async resolve(reference: string, options: { signal?: AbortSignal } = {}): Promise<ResolvedImage> {
    return (await this.#resolve(reference, options.signal)).resolved;
  }

  /** Pulls missing blobs and unpacks; concurrent pulls of one image share the downloads and the unpack. */
  async pull(reference: string, options: PullOptions = {}): Promise<PulledImage> {
    const started = Date.now();
    this.#swept ??= this.#sweepStaleTemps();
    await this.#swept;
    const { resolved, display, manifest, manifestDigest } = await this.#resolve(reference, options.signal);
    const { registry, repository } = resolved.ref;
    const rootfs = join(this.dir, 'rootfs', digestHex(manifestDigest));
    const tally = new PullTally(manifest.layers);
    try {
      if (!(await exists(rootfs))) {
        let unpack = this.#unpacks.get(manifestDigest);
        if (!unpack) {
          unpack = (async () => {
            const paths = await this.#downloadLayers(registry, repository, display, manifest.layers, {
              ...options,
              tally,
            });
            const layers = manifest.layers.map((layer, index) => ({
              digest: layer.digest,
              path: paths[index],
            }));
            return unpackInWorker(layers, rootfs, {
              signal: options.signal,
              onWarning: (message) => this.#options.log?.warn({ image: display }, message),
            });
          })().finally(() => this.#unpacks.delete(manifestDigest));
          this.#unpacks.set(manifestDigest, unpack);
        }
        await unpack;
        tally.completeAll();
        options.onTotals?.(tally.totals);
        this.#options.log?.info(
          { image: display, digest: manifestDigest, ms: Date.now() - started },
          'image pulled',
        );
      } else {
        tally.completeAll();
        options.onTotals?.(tally.totals);
      }
    } catch (error) {
      throw wrap(display, error);
    }
    return { ...resolved, rootfs };
  }

  /** Removes temp dirs and files a crashed process left (older than an hour, so live work is spared). */
  async #sweepStaleTemps(): Promise<void> {
    const cutoff = Date.now() - STALE_TEMP_MS;
    for (const [dir, prefix] of [
      [join(this.dir, 'rootfs'), '.tmp-'],
      [join(this.dir, 'tmp'), 'blob-'],
    ]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((entry) => entry.startsWith(prefix))) {
        const stats = await lstat(join(dir, name)).catch(() => undefined);
        if (stats && stats.mtimeMs < cutoff) {
          this.#options.log?.warn({ path: join(dir, name) }, 'removing what an interrupted pull left behind');
          await rm(join(dir, name), { recursive: true, force: true });
        }
      }
    }
  }

  async #resolve(reference: string, signal?: AbortSignal): Promise<Resolution> {
    const parsed = parseReference(reference);
    const display = formatReference(parsed);
    const { registry, repository } = parsed;
    try {
      const top = await this.#client.getManifest(
        registry,
        repository,
        parsed.digest || parsed.tag,
        display,
        signal,
      );
      let document = parseManifest(display, top.mediaType, top.body);
      let manifestDigest = top.digest;
      if (document.kind === 'index') {
        const chosen = selectPlatform(display, document.index, this.#options.platform);
        const platformManifest = await this.#client.getManifest(
          registry,
          repository,
          chosen.digest,
          display,
          signal,
        );
        document = parseManifest(display, platformManifest.mediaType, platformManifest.body);
        manifestDigest = platformManifest.digest;
        if (document.kind !== 'manifest')
          throw manifestUnsupported(display, 'an index inside an index is not supported');
      }
      const manifest = document.manifest;
      for (const layer of manifest.layers) {
        if (!/tar/.test(layer.mediaType ?? '')) {
          throw manifestUnsupported(
            display,
            `layer ${layer.digest} has media type "${layer.mediaType}", which is not a tar layer`,
          );
        }
      }
      const configPath = await this.blobs.ensure(
        manifest.config.digest,
        async () =>
          responseBody(await this.#client.getBlob(registry, repository, manifest.config.digest, signal)),
        { size: manifest.config.size, what: `config ${manifest.config.digest} of ${display}` },
      );
      const configDocument = JSON.parse(await readFile(configPath, 'utf8')) as { config?: ImageConfig };
      const size = manifest.layers.reduce((total, layer) => total + (layer.size ?? 0), 0);
      return {
        resolved: {
          ref: { registry, repository, tag: parsed.tag, digest: top.digest },
          config: configDocument.config ?? {},
          size,
        },
        display,
        manifest,
        manifestDigest,
      };
    } catch (error) {
      throw wrap(display, error);
    }
  }

  async #downloadLayers(
    registry: string,
    repository: string,
    display: string,
    layers: Descriptor[],
    options: PullOptions & { tally: PullTally },
  ): Promise<string[]> {
    const { tally, onTotals } = options;
    for (const layer of layers) if (await this.blobs.has(layer.digest)) tally.complete(layer.digest);
    onTotals?.(tally.totals);
    const paths: string[] = new Array(layers.length);
    let next = 0;
    const worker = async () => {
      while (next < layers.length) {
        const index = next++;
        const layer = layers[index];
        paths[index] = await this.blobs.ensure(
          layer.digest,
          async () =>
            responseBody(await this.#client.getBlob(registry, repository, layer.digest, options.signal)),
          {
            size: layer.size,
            what: `layer ${layer.digest} of ${display}`,
            onBytes: (bytes) => {
              options.onProgress?.({ layer: layer.digest, bytes, total: layer.size });
              tally.progress(layer.digest, bytes);
              onTotals?.(tally.totals);
            },
          },
        );
        tally.complete(layer.digest);
        onTotals?.(tally.totals);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LAYER_DOWNLOADS, layers.length) }, worker));
    return paths;
  }
}

/** Typed errors pass through as they are; anything unexpected becomes IMAGE_PULL_FAILED with its cause. */
function wrap(display: string, error: unknown): unknown {
  if (error instanceof NearbyError) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  return pullFailed(display, error);
}

/**
 * The body of a response, holding the Response itself until the body is read: undici cancels the
 * unread body of a Response that was garbage-collected (nodejs/undici#3199), which showed up here
 * as a blob that hashed to the digest of nothing.
 */
async function* responseBody(response: Response): AsyncIterable<Uint8Array> {
  if (response.body) yield* response.body;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
