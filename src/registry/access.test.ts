import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type AppRecord, keys, type TokenRecord } from '../model/mod.ts';
import { openStore } from '../store/mod.ts';
import { grantAccess, parseScope } from './access.ts';

test('scopes parse as type, name and actions, with or without a resource class', () => {
  assert.deepEqual(parseScope('repository:shop:pull,push'), {
    type: 'repository',
    name: 'shop',
    actions: ['pull', 'push'],
  });
  assert.deepEqual(parseScope('repository(plugin):shop/tools:pull'), {
    type: 'repository',
    name: 'shop/tools',
    actions: ['pull'],
  });
  assert.deepEqual(parseScope('registry:catalog:*'), { type: 'registry', name: 'catalog', actions: ['*'] });
  assert.equal(parseScope('repository:shop'), undefined);
  assert.equal(parseScope('nonsense'), undefined);
});

test('tokens get pull and push on the repositories of their apps only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-registry-access-'));
  const store = await openStore({ dataDir: dir });
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const app = (name: string, org: string): AppRecord => ({
    id: name,
    name,
    org_slug: org,
    network: 'default',
    created_at: new Date().toISOString(),
  });
  await store.put(keys.app('shop'), app('shop', 'acme'));
  await store.put(keys.app('blog'), app('blog', 'acme'));
  await store.put(keys.app('bank'), app('bank', 'globex'));
  const token = (fields: Partial<TokenRecord>): TokenRecord => ({
    id: 't',
    sha256: '',
    kind: 'deploy',
    name: 't',
    created_at: '',
    ...fields,
  });
  const scopes = [
    'repository:shop:pull,push,delete',
    'repository:shop/worker:pull',
    'repository:blog:pull,push',
    'repository:bank:pull',
    'repository:ghost:pull',
    'registry:catalog:*',
  ];
  const names = (entries: { name: string; actions: string[] }[]) =>
    entries.map((entry) => `${entry.name}:${entry.actions.join(',')}`);

  const deploy = token({ kind: 'deploy', org_slug: 'acme', app: 'shop' });
  assert.deepEqual(names(await grantAccess(store, { kind: 'token', token: deploy }, scopes)), [
    'shop:pull,push',
    'shop/worker:pull',
  ]);
  const org = token({ kind: 'org', org_slug: 'acme' });
  assert.deepEqual(names(await grantAccess(store, { kind: 'token', token: org }, scopes)), [
    'shop:pull,push',
    'shop/worker:pull',
    'blog:pull,push',
  ]);
  const admin = token({ kind: 'admin' });
  assert.equal((await grantAccess(store, { kind: 'token', token: admin }, scopes)).length, scopes.length);
  assert.deepEqual(names(await grantAccess(store, { kind: 'internal' }, scopes)), [
    'shop:pull',
    'shop/worker:pull',
    'blog:pull',
    'bank:pull',
    'ghost:pull',
  ]);
});
