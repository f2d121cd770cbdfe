/**
 * The API in this process on an embedded store in a fresh directory, with the admin token, for
 * tests that call it through `inject` rather than over a socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { buildApi, ensureAdminToken } from '../../src/api/mod.ts';
import { NearbyError } from '../../src/errors.ts';
import type { ImageService } from '../../src/oci/types.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const noImage = () => Promise.reject(new NearbyError('IMAGE_NOT_FOUND', 'no images here', { status: 404 }));
/** An image service that has no images. */
export const noImages: ImageService = { resolve: noImage, pull: noImage };

export async function inProcessApi(name: string, images: ImageService = noImages) {
  const dir = mkdtempSync(join(tmpdir(), `nearby-${name}-`));
  const store = new SqliteStore(join(dir, 'state.db'));
  const token = await ensureAdminToken(store, dir);
  const api = buildApi({
    store,
    images,
    defaultRegion: 'fra',
    appsDomain: 'localhost',
    appUrlTemplate: 'http://{app}.localhost/',
    log: pino({ level: 'silent' }),
    dataDir: dir,
  });
  const close = async () => {
    await api.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { api, store, token, dir, close };
}
