/** The certificate manager: local-CA certificates follow the apps; renewal and retry timing. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import type { CertRecord } from '../model/cert.ts';
import { keys } from '../model/keys.ts';
import { leaseHolder } from '../store/lease.ts';
import { openStore } from '../store/mod.ts';
import { openLocalCa } from './local-ca.ts';
import { backoffMs, CERTS_LEASE, dueForRenewal, runCertManager, toCertRecord } from './manager.ts';

async function until<T>(check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await check();
    if (value !== undefined) return value;
    await delay(25);
  }
  throw new Error('timed out');
}

test('an app gets a local-CA certificate for <app>.<apps domain>, removed with the app', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-certs-manager-'));
  const store = await openStore({ dataDir: dir });
  const controller = new AbortController();
  t.after(async () => {
    controller.abort();
    await manager.done;
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const manager = runCertManager({
    store,
    acmeDirectory: 'https://acme.invalid/directory',
    appsDomain: 'apps.test',
    localCa: await openLocalCa(dir),
    log: pino({ level: 'silent' }),
    signal: controller.signal,
  });
  await store.put(keys.app('shop'), {
    id: '1',
    name: 'shop',
    org_slug: 'personal',
    network: 'default',
    created_at: '',
  });
  const cert = await until(async () => (await store.get<CertRecord>(keys.cert('shop.apps.test')))?.value);
  assert.equal(cert.source, 'local-ca');
  assert.equal(cert.app, 'shop');
  assert.equal(dueForRenewal(cert), false);
  await store.delete(keys.app('shop'));
  await until(async () => ((await store.get(keys.cert('shop.apps.test'))) === undefined ? true : undefined));
});

test('renewal is due a third before expiry; retries back off up to 6 hours', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-certs-renew-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await openLocalCa(dir);
  const record = await toCertRecord('a.example.com', await ca.issue('a.example.com'), 'local-ca', 'a');
  const notAfter = Date.parse(record.not_after);
  const day = 86400_000;
  assert.equal(dueForRenewal(record, notAfter - 31 * day), false);
  assert.equal(dueForRenewal(record, notAfter - 29 * day), true);
  assert.equal(dueForRenewal(undefined), true);
  assert.equal(backoffMs(1), 30_000);
  assert.equal(backoffMs(2), 60_000);
  assert.equal(backoffMs(30), 6 * 3600_000);
});

test('of two cert managers only the holder of leases/certs acts; the other takes over when it stops', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-certs-lease-'));
  const store = await openStore({ dataDir: dir });
  const managers = await Promise.all(
    ['host-a', 'host-b'].map(async (holder) => {
      const controller = new AbortController();
      const localCa = await openLocalCa(join(dir, holder));
      const manager = runCertManager({
        store,
        acmeDirectory: 'https://acme.invalid/directory',
        appsDomain: 'apps.test',
        localCa,
        log: pino({ level: 'silent' }),
        signal: controller.signal,
        holder,
      });
      const stop = () => {
        controller.abort();
        return manager.done;
      };
      return { holder, localCa, stop };
    }),
  );
  t.after(async () => {
    await Promise.all(managers.map((manager) => manager.stop()));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const app = (name: string) => ({
    id: name,
    name,
    org_slug: 'personal',
    network: 'default',
    created_at: '',
  });
  const issuer = (cert: CertRecord) =>
    managers.find((manager) => cert.cert_pem.includes(manager.localCa.certPem.trim()))?.holder;

  await store.put(keys.app('shop'), app('shop'));
  const first = await until(async () => (await store.get<CertRecord>(keys.cert('shop.apps.test')))?.value);
  const holder = await leaseHolder(store, CERTS_LEASE);
  assert.equal(issuer(first), holder);
  const [acting, waiting] = holder === 'host-a' ? managers : [managers[1], managers[0]];
  await acting.stop();
  await store.put(keys.app('cafe'), app('cafe'));
  const second = await until(async () => (await store.get<CertRecord>(keys.cert('cafe.apps.test')))?.value);
  assert.equal(issuer(second), waiting.holder);
  assert.equal(await leaseHolder(store, CERTS_LEASE), waiting.holder);
});
