/**
 * API tokens: random secrets handed out once and stored only as their SHA-256. The admin token is
 * made on first start and written to `<data-dir>/admin-token` (mode 0600) for the CLI to pick up.
 * Org tokens act on one org's apps, deploy tokens on one app; every request reads the store, so a
 * revoked token stops working at once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isNearbyError } from '../errors.ts';
import { type AppRecord, keys, type TokenRecord } from '../model/mod.ts';
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

/** Makes a token; the secret is returned this once and only its digest is kept. */
export async function issueToken(
  store: Store,
  fields: Pick<TokenRecord, 'kind' | 'name' | 'org_slug' | 'app' | 'expires_at'>,
): Promise<{ record: TokenRecord; secret: string }> {
  const secret = `nb_${fields.kind}_${randomBytes(24).toString('base64url')}`;
  const record: TokenRecord = {
    id: randomBytes(8).toString('hex'),
    sha256: sha256(secret),
    created_at: new Date().toISOString(),
    ...fields,
  };
  await store.put(keys.token(record.id), record, { expectRevision: 0 });
  return { record, secret };
}

/**
 * The admin token of a shared store (a cluster), made by the first API that finds none: its
 * secret goes to `file` (mode 0600) and is returned with `created`; only its digest is stored.
 * An API that finds one already made leaves it (another API's operator holds it) and returns the
 * secret only if `file` holds it. Never overwrites the store's admin token.
 */
export async function claimAdminToken(
  store: Store,
  file: string,
): Promise<{ secret?: string; created: boolean }> {
  const existing = (await readFile(file, 'utf8').catch(() => ''))?.trim() || undefined;
  const current = await store.get<TokenRecord>(keys.token('admin'));
  if (current)
    return {
      ...(current.value.sha256 === sha256(existing ?? '') ? { secret: existing } : {}),
      created: false,
    };
  const secret = existing ?? `nb_${randomBytes(24).toString('base64url')}`;
  const record: TokenRecord = {
    id: 'admin',
    sha256: sha256(secret),
    kind: 'admin',
    name: 'admin',
    created_at: new Date().toISOString(),
  };
  try {
    await store.put(keys.token('admin'), record, { expectRevision: 0 });
  } catch (error) {
    // Another API made it first: that one's operator holds the token.
    if (isNearbyError(error, 'STORE_CONFLICT')) return { created: false };
    throw error;
  }
  if (!existing) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, `${secret}\n`, { mode: 0o600 });
  }
  return { secret, created: true };
}

/** Finds the token record for an `Authorization` header (`Bearer x` or `FlyV1 x`). */
export async function authenticate(store: Store, header: string | undefined): Promise<TokenRecord> {
  const match = /^(?:Bearer|FlyV1)\s+(\S+)$/i.exec(header ?? '');
  if (!match) throw apiErrors.unauthorized();
  const digest = Buffer.from(sha256(match[1]), 'hex');
  for (const { value } of await store.list<TokenRecord>(keys.tokens())) {
    const candidate = Buffer.from(value.sha256, 'hex');
    if (candidate.length === digest.length && timingSafeEqual(candidate, digest)) {
      if (value.expires_at && Date.parse(value.expires_at) <= Date.now()) throw apiErrors.tokenExpired();
      return value;
    }
  }
  throw apiErrors.unauthorized();
}

/** Whether a token may see and act on an app. Others' apps are answered as not found. */
export function canAccessApp(token: TokenRecord, app: Pick<AppRecord, 'name' | 'org_slug'>): boolean {
  if (token.kind === 'admin' || token.kind === 'host') return true;
  if (token.kind === 'org') return app.org_slug === token.org_slug;
  return app.name === token.app;
}

/** Whether a token may act for a whole org (create its apps, make or revoke its tokens). */
export function canManageOrg(token: TokenRecord, org: string): boolean {
  return token.kind === 'admin' || (token.kind === 'org' && token.org_slug === org);
}

/** What a token may see of other tokens. */
export function canSeeToken(token: TokenRecord, other: TokenRecord): boolean {
  if (token.kind === 'admin') return true;
  if (token.kind === 'org') return other.kind !== 'admin' && other.org_slug === token.org_slug;
  return other.id === token.id;
}
