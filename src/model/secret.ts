/**
 * App secrets (`secrets/<app>/<name>`): sealed with AES-256-GCM under a key kept in the data dir,
 * so the store (and its backups) never hold a value in clear. The API seals; the agent opens at boot.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NearbyError } from '../errors.ts';

export interface SecretRecord {
  name: string;
  app: string;
  /** base64 of iv (12 bytes) + tag (16 bytes) + ciphertext. */
  sealed: string;
  /** Keyed digest of the value: shows a change without revealing (or allowing to guess) the value. */
  digest: string;
  created_at: string;
  updated_at: string;
}

export const secretKeyFile = (dataDir: string) => join(dataDir, 'secrets.key');

/** `secrets-key`: the fingerprint of the key every API of a store must hold. */
export interface SecretKeyRecord {
  fingerprint: string;
  created_at: string;
}

/** Names a key without revealing it (an HMAC under the key of a fixed label). */
export function secretKeyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('nearby secrets key fingerprint').digest('hex').slice(0, 16);
}

/** Loads the data dir's secret key, creating it (mode 0600) the first time. */
export function loadSecretKey(dataDir: string): Buffer {
  const file = secretKeyFile(dataDir);
  try {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length === 32) return key;
    throw new NearbyError('SECRET_KEY_INVALID', `${file} does not hold a 32-byte base64 key`, {
      hint: 'restore it from a backup: without it, stored secrets cannot be read',
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // `wx`: two processes starting at once must not overwrite each other's key.
  try {
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return loadSecretKey(dataDir);
    throw error;
  }
  return key;
}

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    this.#key = key;
  }

  /** `aad` binds the ciphertext to its app and name, so a sealed value cannot be moved to another. */
  seal(value: string, aad: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(aad));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string, aad: string): string {
    const bytes = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(bytes.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new NearbyError(
        'SECRET_UNREADABLE',
        `secret ${aad} cannot be decrypted with this data dir's key`,
        {
          cause: error,
          hint: 'set the secret again (`nearby secrets set`), or restore secrets.key',
        },
      );
    }
  }

  digest(value: string): string {
    return createHmac('sha256', this.#key).update(value).digest('hex').slice(0, 16);
  }
}

export const secretAad = (app: string, name: string) => `${app}/${name}`;
