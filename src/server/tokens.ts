/**
 * Which API token a process uses, and the admin token's first making. On one host (SQLite in the
 * data dir) the data dir's `admin-token` file is the truth, as before. In a cluster the first API
 * to find no admin token makes it, prints it once and writes it to its token file; agents and
 * proxies read a token from `--token-file` or NEARBY_API_TOKEN.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { claimAdminToken, ensureAdminToken } from '../api/mod.ts';
import { NearbyError } from '../errors.ts';
import type { Store } from '../store/mod.ts';
import type { ServerSettings } from './settings.ts';

export async function adminToken(
  store: Store,
  settings: ServerSettings,
  log: Logger,
): Promise<string | undefined> {
  if (!settings.nats) return ensureAdminToken(store, settings.dataDir);
  const { secret, created } = await claimAdminToken(store, settings.adminTokenFile);
  if (created) {
    // Printed once, on stdout, for the operator starting the first API (the log goes to stderr).
    process.stdout.write(`Admin token (kept in ${settings.adminTokenFile}; shown only now):\n${secret}\n`);
    log.info(
      { file: settings.adminTokenFile },
      `made the cluster's admin token: it is in ${settings.adminTokenFile}`,
    );
  } else if (!secret) {
    log.info(
      'the cluster already has an admin token, made by another API: use that one (its --admin-token-file) or one made with `nearby tokens create`',
    );
  }
  return secret;
}

/** The token of an agent or a proxy: `--token-file`, else NEARBY_API_TOKEN, else none. */
export async function partToken(settings: ServerSettings, env = process.env): Promise<string | undefined> {
  if (settings.tokenFile) {
    const text = await readFile(settings.tokenFile, 'utf8').catch((cause) => {
      throw new NearbyError('TOKEN_FILE_UNREADABLE', `cannot read the API token file ${settings.tokenFile}`, {
        hint: 'pass --token-file FILE holding a token of the API (the first `nearby api` prints one)',
        cause,
      });
    });
    return text.trim() || undefined;
  }
  return env.NEARBY_API_TOKEN || undefined;
}
