import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { keys, type TokenRecord } from '../model/mod.ts';
import { openStore } from '../store/mod.ts';
import { authenticate, canAccessApp, canManageOrg, canSeeToken, issueToken } from './auth.ts';

test('tokens authenticate by their secret, stop at expiry or revocation, and are stored hashed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-auth-'));
  const store = await openStore({ dataDir: dir });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const { record, secret } = await issueToken(store, { kind: 'org', name: 'ci', org_slug: 'acme' });
  assert.equal((await authenticate(store, `Bearer ${secret}`)).id, record.id);
  assert.equal((await authenticate(store, `FlyV1 ${secret}`)).id, record.id, 'Fly clients send FlyV1');
  const stored = await store.get<TokenRecord>(keys.token(record.id));
  assert.doesNotMatch(JSON.stringify(stored?.value), new RegExp(secret), 'only the digest is stored');

  const expired = await issueToken(store, {
    kind: 'deploy',
    name: 'old',
    org_slug: 'acme',
    app: 'web',
    expires_at: new Date(Date.now() - 1000).toISOString(),
  });
  await assert.rejects(authenticate(store, `Bearer ${expired.secret}`), (e) =>
    isNearbyError(e, 'TOKEN_EXPIRED'),
  );
  await store.delete(keys.token(record.id));
  await assert.rejects(authenticate(store, `Bearer ${secret}`), (e) => isNearbyError(e, 'UNAUTHORIZED'));
  await assert.rejects(authenticate(store, undefined), (e) => isNearbyError(e, 'UNAUTHORIZED'));
});

test('what each kind of token may reach', () => {
  const base = { id: 'x', sha256: '', name: 'n', created_at: '' };
  const admin: TokenRecord = { ...base, kind: 'admin' };
  const org: TokenRecord = { ...base, id: 'o', kind: 'org', org_slug: 'acme' };
  const deploy: TokenRecord = { ...base, id: 'd', kind: 'deploy', org_slug: 'acme', app: 'web' };
  const web = { name: 'web', org_slug: 'acme' };
  const jobs = { name: 'jobs', org_slug: 'acme' };
  const theirs = { name: 'shop', org_slug: 'globex' };
  assert.deepEqual(
    [admin, org, deploy].map((token) => [web, jobs, theirs].map((app) => canAccessApp(token, app))),
    [
      [true, true, true],
      [true, true, false],
      [true, false, false],
    ],
  );
  assert.deepEqual(
    [admin, org, deploy].map((token) => canManageOrg(token, 'acme')),
    [true, true, false],
  );
  assert.equal(canManageOrg(org, 'globex'), false);
  assert.equal(canSeeToken(org, admin), false);
  assert.equal(canSeeToken(org, deploy), true);
  assert.equal(canSeeToken(deploy, org), false);
  assert.equal(canSeeToken(deploy, deploy), true);
});
