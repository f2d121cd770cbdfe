/**
 * Every API of a store must seal and open secrets with the same key. The first API records its
 * key's fingerprint in the store (`secrets-key`); an API whose key differs refuses to start,
 * saying which file to copy, instead of sealing secrets no other API or agent can open.
 */
import { isNearbyError, NearbyError } from '../errors.ts';
import { keys, type SecretKeyRecord, secretKeyFile, secretKeyFingerprint } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';

/** @throws NearbyError SECRET_KEY_MISMATCH */
export async function checkSecretKey(store: Store, key: Buffer, dataDir: string): Promise<void> {
  const fingerprint = secretKeyFingerprint(key);
  const current = await store.get<SecretKeyRecord>(keys.secretsKey());
  if (!current) {
    try {
      await store.put<SecretKeyRecord>(
        keys.secretsKey(),
        { fingerprint, created_at: new Date().toISOString() },
        { expectRevision: 0 },
      );
      return;
    } catch (error) {
      if (!isNearbyError(error, 'STORE_CONFLICT')) throw error;
      return checkSecretKey(store, key, dataDir);
    }
  }
  if (current.value.fingerprint === fingerprint) return;
  throw new NearbyError(
    'SECRET_KEY_MISMATCH',
    `this API's secrets key (${secretKeyFile(dataDir)}, fingerprint ${fingerprint}) is not the one the store's secrets are sealed with (fingerprint ${current.value.fingerprint})`,
    {
      hint: 'copy secrets.key from the data dir of the first `nearby api` into this one (mode 0600), then start again',
    },
  );
}
