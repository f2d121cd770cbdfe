/**
 * API tokens: random secrets handed out once and stored only as their SHA-256. The admin token is
 * made on first start and written to `<data-dir>/admin-token` (mode 0600) for the CLI to pick up.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { keys, type TokenRecord } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { apiErrors } from './errors.ts';

export const adminTokenFile = (dataDir: string) => join(dataDir, 'admin-token');

const sha256 = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Returns the admin token, creating it (and its record) on first start. */
export async function ensureAdminToken(store: Store, dataDir: string): Promise<string> {
  const file = adminTokenFile(dataDir);
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  const secret = existing?.trim() || `nb_${randomBytes(24).toString('base64url')}`;
  const record: TokenRecord = {
    id: 'admin',
    sha256: sha256(secret),
    kind: 'admin',
    name: 'admin',
    created_at: new Date().toISOString(),
  };
  const current = await store.get<TokenRecord>(keys.token('admin'));
  if (current?.value.sha256 !== record.sha256) await store.put(keys.token('admin'), record);
  if (!existing) await writeFile(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** Finds the token record for an `Authorization` header (`Bearer x` or `FlyV1 x`). */
export async function authenticate(store: Store, header: string | undefined): Promise<TokenRecord> {
  const match = /^(?:Bearer|FlyV1)\s+(\S+)$/i.exec(header ?? '');
  if (!match) throw apiErrors.unauthorized();
  const digest = Buffer.from(sha256(match[1]), 'hex');
  for (const { value } of await store.list<TokenRecord>(keys.tokens())) {
    const candidate = Buffer.from(value.sha256, 'hex');
    if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) return value;
  }
  throw apiErrors.unauthorized();
}
