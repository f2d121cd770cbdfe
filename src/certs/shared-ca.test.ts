/**
 * Every API of a store signs with one local CA: the first publishes it (its key sealed with the
 * secrets key), the others adopt it; a different secrets key is refused by name. On SQLite, and on
 * a three-node NATS cluster where two APIs start at the same moment.
 */
import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { startNatsCluster } from '../../test/helpers/nats.ts';
import type { LocalCaRecord } from '../model/cert-request.ts';
import { keys } from '../model/mod.ts';
import { NatsStore, openStore, type Store } from '../store/mod.ts';
import { localCaPaths, openLocalCa } from './local-ca.ts';
import { splitPem } from './pem.ts';
import { openSharedLocalCa } from './shared-ca.ts';

const log = pino({ level: 'silent' });

async function tempDir(t: { after(fn: () => unknown): void }, name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `nearby-${name}-`));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function signedBy(leafChain: string, caPem: string): boolean {
  const [leafPem] = splitPem(leafChain);
  return new X509Certificate(leafPem).verify(new X509Certificate(caPem).publicKey);
}

test('the second API adopts the first one’s CA; the store holds the key only sealed', async (t) => {
  const storeDir = await tempDir(t, 'ca-store');
  const store = await openStore({ dataDir: storeDir });
  t.after(() => store.close());
  const secretKey = randomBytes(32);
  const [first, second] = [await tempDir(t, 'ca-a'), await tempDir(t, 'ca-b')];

  const a = await openSharedLocalCa({ store, dataDir: first, secretKey, hostName: 'a', log });
  const b = await openSharedLocalCa({ store, dataDir: second, secretKey, hostName: 'b', log });
  assert.equal(b.certPem, a.certPem, 'one CA for both');
  assert.equal(
    await readFile(localCaPaths(second).key, 'utf8'),
    await readFile(localCaPaths(first).key, 'utf8'),
  );
  assert.ok(signedBy((await b.issue('hello.localhost')).certPem, a.certPem), 'b signs with the shared CA');

  const record = (await store.get<LocalCaRecord>(keys.localCa()))?.value;
  assert.ok(record?.key_sealed, 'the key is in the store');
  assert.doesNotMatch(JSON.stringify(record), /PRIVATE KEY/, 'never in clear');
  assert.equal(record.host, 'a');

  const again = await openSharedLocalCa({ store, dataDir: second, secretKey, hostName: 'b', log });
  assert.equal(again.certPem, a.certPem, 'a restart keeps it');
  assert.deepEqual((await readdir(localCaPaths(second).dir)).sort(), ['nearby-ca.crt', 'nearby-ca.key']);
});

test('a data dir with its own CA takes the store’s and keeps its old one beside it', async (t) => {
  const store = await openStore({ dataDir: await tempDir(t, 'ca-store') });
  t.after(() => store.close());
  const secretKey = randomBytes(32);
  const [first, second] = [await tempDir(t, 'ca-a'), await tempDir(t, 'ca-b')];
  const own = await openLocalCa(second);
  const shared = await openSharedLocalCa({ store, dataDir: first, secretKey, hostName: 'a', log });
  const adopted = await openSharedLocalCa({ store, dataDir: second, secretKey, hostName: 'b', log });
  assert.equal(adopted.certPem, shared.certPem);
  assert.notEqual(own.certPem, shared.certPem);
  const files = await readdir(localCaPaths(second).dir);
  const kept = files.find((file) => file.startsWith('nearby-ca.crt.replaced-'));
  assert.ok(kept, `the old CA is kept: ${files.join(', ')}`);
  assert.equal(await readFile(join(localCaPaths(second).dir, kept), 'utf8'), own.certPem);
});

test('a CA recorded before it was shared is published as it is, not replaced', async (t) => {
  const dataDir = await tempDir(t, 'ca-a');
  const store = await openStore({ dataDir });
  t.after(() => store.close());
  const before = await openLocalCa(dataDir);
  await store.put<LocalCaRecord>(keys.localCa(), {
    cert_pem: before.certPem,
    path: before.certPath,
    host: 'a',
  });
  const secretKey = randomBytes(32);
  const after = await openSharedLocalCa({ store, dataDir, secretKey, hostName: 'a', log });
  assert.equal(after.certPem, before.certPem, 'the CA users already trust stays');
  assert.ok((await store.get<LocalCaRecord>(keys.localCa()))?.value.key_sealed);
});

test('an API with another secrets key is refused, naming what to copy', async (t) => {
  const store = await openStore({ dataDir: await tempDir(t, 'ca-store') });
  t.after(() => store.close());
  await openSharedLocalCa({
    store,
    dataDir: await tempDir(t, 'ca-a'),
    secretKey: randomBytes(32),
    hostName: 'a',
    log,
  });
  const other = await tempDir(t, 'ca-b');
  await assert.rejects(
    openSharedLocalCa({ store, dataDir: other, secretKey: randomBytes(32), hostName: 'b', log }),
    (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, 'LOCAL_CA_UNREADABLE');
      assert.match(error.message, /published by a/);
      assert.match(error.hint ?? '', /secrets\.key/);
      return true;
    },
  );
  assert.deepEqual(await readdir(other), [], 'nothing written');
});

test('two APIs starting at once on a NATS cluster end with one CA', async (t) => {
  const cluster = await startNatsCluster(t, 3);
  const stores: Store[] = [];
  t.after(() => Promise.all(stores.map((store) => store.close().catch(() => {}))));
  for (let i = 0; i < 2; i++)
    stores.push(await NatsStore.open({ servers: cluster.urls, prefix: 'sharedca' }));
  const secretKey = randomBytes(32);
  const dirs = [await tempDir(t, 'ca-a'), await tempDir(t, 'ca-b')];
  const [a, b] = await Promise.all(
    dirs.map((dataDir, i) =>
      openSharedLocalCa({ store: stores[i] as Store, dataDir, secretKey, hostName: `host-${i}`, log }),
    ),
  );
  assert.equal(a?.certPem, b?.certPem, 'the loser of the race adopted the winner’s CA');
  const record = (await stores[0]?.get<LocalCaRecord>(keys.localCa()))?.value;
  assert.equal(record?.cert_pem, a?.certPem);
  assert.ok(signedBy((await (b ?? a)?.issue('x.localhost'))?.certPem ?? '', a?.certPem ?? ''));
});
