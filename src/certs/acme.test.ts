/**
 * The ACME client and nearby's challenge responders (HTTP-01, TLS-ALPN-01, the DNS-01 responder)
 * against a real pebble (Debian's ACME test server), and the manager's renewal through each.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import pino from 'pino';
import { type RunningPebble, startPebble } from '../../test/helpers/pebble.ts';
import type { CertRecord } from '../model/cert.ts';
import type { CertRequest } from '../model/cert-request.ts';
import { keys } from '../model/keys.ts';
import { openStore } from '../store/mod.ts';
import type { Store } from '../store/types.ts';
import { issueWithAcme } from './acme-issue.ts';
import { startChallengeResponder } from './challenge-responder.ts';
import { startDnsResponder } from './dns-responder.ts';
import { openLocalCa } from './local-ca.ts';
import { runCertManager } from './manager.ts';
import { certFacts } from './pem.ts';
import { startTlsAlpnResponder } from './tls-alpn-responder.ts';

const silent = pino({ level: 'silent' });
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

let dir: string;
let store: Store;
let pebble: RunningPebble;

// One pebble for the file: HTTP-01 and TLS-ALPN-01 reach the responders' ports, and DNS-01
// queries for the apps domain are relayed to nearby's DNS responder (an NS delegation).
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nearby-acme-'));
  store = await openStore({ dataDir: dir });
  cleanups.push(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const http = await startChallengeResponder(store, silent);
  const tls = await startTlsAlpnResponder(store, silent);
  const dns = await startDnsResponder({
    store,
    domain: 'apps.example.com',
    host: '127.0.0.1',
    port: 0,
    log: silent,
  });
  cleanups.push(
    () => http.close(),
    () => tls.close(),
    () => dns.close(),
  );
  pebble = await startPebble(hooks, {
    httpPort: http.port,
    tlsPort: tls.port,
    resolvable: ['www.example.com', 'alpn.example.com'],
    delegate: { zone: '_acme-challenge.apps.example.com', port: dns.port },
  });
  setDefaultCACertificates([...getCACertificates('default'), pebble.caPem]);
});

test('a certificate from pebble through HTTP-01, and a clear error when validation fails', async () => {
  const issued = await issueWithAcme({
    store,
    directoryUrl: pebble.directoryUrl,
    hostname: 'www.example.com',
  });
  const facts = certFacts(issued.certPem);
  assert.deepEqual(facts.names, ['www.example.com']);
  assert.ok(facts.notAfter.getTime() > Date.now());
  assert.ok(new X509Certificate(issued.certPem).checkPrivateKey(createPrivateKey(issued.keyPem)));
  assert.ok((await store.list('acme-challenges/')).length === 0, 'challenge answers are removed afterwards');
  assert.equal((await store.list('acme-accounts/')).length, 1);

  // The same account is reused; a name whose DNS does not lead here fails validation, with the reason.
  await assert.rejects(
    issueWithAcme({ store, directoryUrl: pebble.directoryUrl, hostname: 'nowhere.example.com' }),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ACME_CHALLENGE_FAILED');
      assert.match(error.message, /nowhere\.example\.com/);
      return true;
    },
  );
  assert.equal((await store.list('acme-accounts/')).length, 1);
});

test('the manager issues by TLS-ALPN-01 and the wildcard by DNS-01, and renews both before expiry', async (t) => {
  const controller = new AbortController();
  let clockAhead = 0;
  const manager = runCertManager({
    store,
    acmeDirectory: pebble.directoryUrl,
    appsDomain: 'apps.example.com',
    localCa: await openLocalCa(dir),
    log: silent,
    signal: controller.signal,
    challenge: 'tls-alpn-01',
    dnsWildcard: true,
    now: () => Date.now() + clockAhead,
  });
  t.after(async () => {
    controller.abort();
    await manager.done;
  });
  const now = new Date().toISOString();
  await store.put<CertRequest>(keys.certRequest('alpn.example.com'), {
    hostname: 'alpn.example.com',
    app: 'shop',
    method: 'acme',
    status: 'pending',
    created_at: now,
    updated_at: now,
    attempts: 0,
  });
  const cert = async (hostname: string) => (await store.get<CertRecord>(keys.cert(hostname)))?.value;
  const issuedBoth = async (not?: Map<string, string>) => {
    for (let i = 0; i < 600; i++) {
      const both = [await cert('alpn.example.com'), await cert('*.apps.example.com')];
      const fresh = both.every(
        (record) => record?.source === 'acme' && record.cert_pem !== not?.get(record.hostname),
      );
      if (fresh) return new Map(both.map((record) => [record?.hostname ?? '', record?.cert_pem ?? '']));
      await delay(100);
    }
    const requests = await store.list('cert-requests/');
    throw new Error(`not issued: ${JSON.stringify(requests.map((entry) => entry.value))}`);
  };
  const first = await issuedBoth();
  const alpn = certFacts(first.get('alpn.example.com') ?? '');
  assert.deepEqual(alpn.names, ['alpn.example.com']);
  assert.match(alpn.issuer, /Pebble/i);
  assert.deepEqual(certFacts(first.get('*.apps.example.com') ?? '').names, ['*.apps.example.com']);

  // Two thirds into the certificates' lifetime, the manager gets new ones the same ways.
  clockAhead = Date.parse((await cert('alpn.example.com'))?.not_after ?? '') - Date.now() - 3600_000;
  manager.kick();
  const renewed = await issuedBoth(first);
  clockAhead = 0;
  for (const [hostname, pem] of renewed) assert.notEqual(pem, first.get(hostname), `${hostname} renewed`);
  // With the clock ahead another renewal may have begun: stop, then every answer must be gone.
  controller.abort();
  await manager.done;
  assert.equal((await store.list('acme-challenges/')).length, 0, 'challenge answers are removed afterwards');
});
