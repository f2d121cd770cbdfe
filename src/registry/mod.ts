/**
 * nearby's own registry: Debian's docker-registry (CNCF distribution) as a child of `nearby server`,
 * storing images under `<data-dir>/registry/storage`, with nearby as its token issuer. Images are
 * named `<registry host>/<app>[/<name>]:<tag>`; only tokens that may act on the app pull or push them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { CredentialsLookup } from '../oci/mod.ts';
import { REGISTRY_BINARY, type RegistryChildLog, superviseRegistry } from './child.ts';
import { registryErrors } from './errors.ts';
import { registryConfigYaml } from './registry-config.ts';
import { openSigningKey } from './signing-key.ts';
import { type RegistryTokenService, TOKEN_PATH } from './token-routes.ts';

export { type AccessEntry, signRegistryToken } from './jwt.ts';
export { type RegistryTokenService, registryRoutes } from './token-routes.ts';

export interface NearbyRegistry {
  /** `host:port` as image references name the registry (`127.0.0.1:5050`). */
  host: string;
  tokenService: RegistryTokenService;
  /** What the server's ImageStore pulls from it with. */
  credentials: CredentialsLookup;
  /** Starts the child and waits (up to 10 s) until it answers. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export const registryDir = (dataDir: string) => join(dataDir, 'registry');

/** Makes the signing key (first start), writes the config; `start()` runs the registry. */
export async function prepareRegistry(options: {
  dataDir: string;
  listen: string;
  apiListen: string;
  /** `host:port` other hosts reach the registry at (image references name it); default from `listen`. */
  address?: string;
  /** Where registry clients on any host reach the API's token service; default from `apiListen`. */
  apiUrl?: string;
  log: RegistryChildLog;
}): Promise<NearbyRegistry> {
  const host = options.address ?? reachableAddress(options.listen);
  const dir = registryDir(options.dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = await openSigningKey(dir);
  const tokenService: RegistryTokenService = {
    host,
    service: 'nearby-registry',
    issuer: 'nearby',
    key,
    internalSecret: `nb_internal_${randomBytes(24).toString('base64url')}`,
  };
  const configPath = join(dir, 'config.yml');
  await writeFile(
    configPath,
    registryConfigYaml({
      listen: options.listen,
      storageDir: join(dir, 'storage'),
      realm: `${options.apiUrl ?? `http://${reachableAddress(options.apiListen)}`}${TOKEN_PATH}`,
      service: tokenService.service,
      issuer: tokenService.issuer,
      rootCertBundle: key.certPath,
      httpSecret: await persistentSecret(join(dir, 'http-secret')),
    }),
  );
  let child: ReturnType<typeof superviseRegistry> | undefined;
  return {
    host,
    tokenService,
    credentials: (registry) =>
      registry === host ? { username: 'nearby', password: tokenService.internalSecret } : undefined,
    async start() {
      if (!existsSync(REGISTRY_BINARY)) {
        options.log.error(
          { binary: REGISTRY_BINARY },
          'docker-registry is not installed, so nearby runs no registry: install it (apt-get install docker-registry; scripts/setup.sh does) or pass --registry-listen off',
        );
        return;
      }
      child = superviseRegistry({ configPath, pidFile: join(dir, 'registry.pid'), log: options.log });
      if (await answers(host)) options.log.info({ registry: host }, `registry listening on ${host}`);
      else options.log.error({ registry: host }, `the registry did not answer on ${host} within 10 s`);
    },
    async stop() {
      await child?.stop();
    },
  };
}

/** `0.0.0.0:5050` → `127.0.0.1:5050`: the address clients on this host use. */
function reachableAddress(listen: string): string {
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) throw registryErrors.listenInvalid(listen);
  const host = match[1].replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') return `127.0.0.1:${match[2]}`;
  if (host === '::') return `[::1]:${match[2]}`;
  return host.includes(':') ? `[${host}]:${match[2]}` : `${host}:${match[2]}`;
}

async function persistentSecret(path: string): Promise<string> {
  const existing = (await readFile(path, 'utf8').catch(() => '')).trim();
  if (existing) return existing;
  const secret = randomBytes(32).toString('hex');
  await writeFile(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

async function answers(host: string): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://${host}/v2/`).then(
      async (response) => {
        await response.body?.cancel();
        return true;
      },
      () => false,
    );
    if (ok) return true;
    await delay(100);
  }
  return false;
}
