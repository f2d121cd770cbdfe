/**
 * One local CA for every API of a store. The first API to start publishes its CA in `local-ca`:
 * the certificate in clear, the private key sealed with the secrets key (which every API of a
 * store holds already, checked by its fingerprint). Every other API adopts that CA into its data
 * dir, so whichever API holds `leases/certs` signs with the same CA and users trust one
 * certificate (`nearby certs ca`). The store never holds the key in clear.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type pino from 'pino';
import { isNearbyError } from '../errors.ts';
import type { LocalCaRecord } from '../model/cert-request.ts';
import { keys, SecretBox } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import { certErrors } from './errors.ts';
import { type LocalCa, localCaPaths, openLocalCa } from './local-ca.ts';

export interface SharedCaOptions {
  store: Store;
  dataDir: string;
  /** The secrets key (`secrets.key`): seals the CA's private key in the store. */
  secretKey: Buffer;
  hostName: string;
  log: pino.Logger;
}

/** Binds the sealed key to its certificate: a key cannot be paired with another CA's certificate. */
const keyAad = (certPem: string) => `local-ca/${createHash('sha256').update(certPem).digest('hex')}`;

/**
 * Opens the store's local CA, adopting it into the data dir; or publishes this data dir's CA
 * (made now if there is none) when the store has none yet. @throws NearbyError LOCAL_CA_UNREADABLE
 */
export async function openSharedLocalCa(options: SharedCaOptions): Promise<LocalCa> {
  const { store, dataDir } = options;
  const box = new SecretBox(options.secretKey);
  for (;;) {
    const entry = await store.get<LocalCaRecord>(keys.localCa());
    if (entry?.value.key_sealed !== undefined) {
      const { cert_pem: certPem, key_sealed: sealed } = entry.value;
      let keyPem: string;
      try {
        keyPem = box.open(sealed, keyAad(certPem));
      } catch (error) {
        throw certErrors.localCaUnreadable(entry.value.host, error);
      }
      await adopt(options, certPem, keyPem);
      return openLocalCa(dataDir);
    }
    const local = await openLocalCa(dataDir);
    const keyPem = await readFile(localCaPaths(dataDir).key, 'utf8');
    const record: LocalCaRecord = {
      cert_pem: local.certPem,
      path: local.certPath,
      host: options.hostName,
      key_sealed: box.seal(keyPem, keyAad(local.certPem)),
    };
    try {
      // A record without the key (written before the CA was shared) is replaced; a CA another API
      // published meanwhile wins, and this one adopts it on the next turn.
      await store.put(keys.localCa(), record, { expectRevision: entry?.revision ?? 0 });
      options.log.info(
        { ca: subject(local.certPem) },
        'published this data dir’s local CA for the other APIs',
      );
      return local;
    } catch (error) {
      if (!isNearbyError(error, 'STORE_CONFLICT')) throw error;
    }
  }
}

/** Writes the store's CA into the data dir, keeping a different one there as `*.replaced-<time>`. */
async function adopt(options: SharedCaOptions, certPem: string, keyPem: string): Promise<void> {
  const paths = localCaPaths(options.dataDir);
  const current = await readFile(paths.cert, 'utf8').catch(() => undefined);
  if (current === certPem) return;
  await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  if (current !== undefined) {
    const suffix = `replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(paths.cert, `${paths.cert}.${suffix}`);
    await rename(paths.key, `${paths.key}.${suffix}`).catch(() => {});
    options.log.warn(
      { kept: `${paths.cert}.${suffix}`, ca: subject(certPem) },
      'this data dir had another local CA: the store’s is used (every API signs with one CA); the old one is kept beside it',
    );
  }
  // The key first: a certificate without its key would be taken for a whole CA on the next start.
  await writeFile(paths.key, keyPem, { mode: 0o600 });
  await writeFile(paths.cert, certPem, { mode: 0o644 });
  if (current === undefined) options.log.info({ ca: subject(certPem) }, 'adopted the cluster’s local CA');
}

function subject(certPem: string): string {
  try {
    return new X509Certificate(certPem).subject.replace(/^CN=/, '');
  } catch {
    return 'unknown';
  }
}
