/**
 * Content-addressed blob storage shared by all images: `<dir>/blobs/sha256/<hex>`. A blob is written
 * to a temp file while its sha256 is computed, and renamed into place only when the digest matches.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NearbyError } from '../errors.ts';
import { digestMismatch } from './errors.ts';

const digestPattern = /^sha256:([a-f0-9]{64})$/;

/** The hex of a `sha256:` digest; refuses anything else, since digests come from untrusted manifests. */
export function digestHex(digest: string): string {
  const match = digestPattern.exec(digest);
  if (!match) {
    throw new NearbyError('IMAGE_DIGEST_INVALID', `"${digest}" is not a sha256 digest`, { status: 422 });
  }
  return match[1];
}

export class BlobCache {
  readonly dir: string;
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  path(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  /**
   * Returns the blob's path, calling `openBody` for its bytes only when it is missing; concurrent calls
   * for the same digest share one download.
   */
  ensure(
    digest: string,
    openBody: () => Promise<AsyncIterable<Uint8Array>>,
    options: { size?: number; what?: string; onBytes?: (bytes: number) => void } = {},
  ): Promise<string> {
    let pending = this.#inFlight.get(digest);
    if (!pending) {
      pending = (async () => {
        if (await this.has(digest)) return this.path(digest);
        return this.put(digest, await openBody(), options);
      })().finally(() => this.#inFlight.delete(digest));
      this.#inFlight.set(digest, pending);
    }
    return pending;
  }

  /** Streams `body` into the cache, verifying its digest (and size when given). */
  async put(
    digest: string,
    body: AsyncIterable<Uint8Array>,
    options: { size?: number; what?: string; onBytes?: (bytes: number) => void } = {},
  ): Promise<string> {
    const finalPath = this.path(digest);
    const tempDir = join(this.dir, 'tmp');
    await mkdir(tempDir, { recursive: true });
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const tempPath = join(
      tempDir,
      `blob-${digestHex(digest).slice(0, 16)}-${randomBytes(6).toString('hex')}`,
    );
    const hash = createHash('sha256');
    let bytes = 0;
    const file = await open(tempPath, 'wx', 0o644);
    try {
      for await (const chunk of body) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        if (options.size !== undefined && bytes > options.size) {
          throw digestMismatch(
            options.what ?? `blob ${digest}`,
            digest,
            `(more than the ${options.size} bytes announced)`,
          );
        }
        await file.write(chunk);
        options.onBytes?.(bytes);
      }
      await file.sync();
    } catch (error) {
      await file.close().catch(() => {});
      await rm(tempPath, { force: true });
      throw error;
    }
    await file.close();
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest) {
      await rm(tempPath, { force: true });
      throw digestMismatch(options.what ?? `blob ${digest}`, digest, actual);
    }
    await rename(tempPath, finalPath);
    return finalPath;
  }
}
