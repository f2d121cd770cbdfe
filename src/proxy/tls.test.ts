/**
 * TLS through a real HAProxy: SNI picks the certificate from `certs/<hostname>` records (wildcards
 * too), certificates come and go without a reload, TLS 1.2 and 1.3 only, ALPN h2.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import tls from 'node:tls';
import { keys } from '../model/keys.ts';
import type { CertRecord } from '../model/mod.ts';
import { issueTestCert, makeTestCa, type TestCa } from './test-certs.ts';
import { echoUpstream, freePort, httpService, startTestProxy } from './test-proxy.ts';

interface Handshake {
  cn: string | string[] | undefined;
  authorized: boolean;
  protocol: string | null;
  alpn: string | false | null;
}

function handshake(
  port: number,
  servername: string,
  ca: TestCa,
  options: tls.ConnectionOptions = {},
): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { port, host: '127.0.0.1', servername, ca: ca.certPem, rejectUnauthorized: false, ...options },
      () => {
        const result = {
          cn: socket.getPeerCertificate().subject?.CN,
          authorized: socket.authorized,
          protocol: socket.getProtocol(),
          alpn: socket.alpnProtocol,
        };
        socket.destroy();
        resolve(result);
      },
    );
    socket.on('error', reject);
  });
}

async function certRecord(ca: TestCa, hostname: string, app?: string): Promise<CertRecord> {
  const pems = await issueTestCert(ca, [hostname]);
  return {
    hostname,
    ...pems,
    not_after: new Date(Date.now() + 86_400_000).toISOString(),
    source: 'upload',
    ...(app ? { app } : {}),
  };
}

/** An HTTPS GET over one TLS connection; resolves with the raw answer. */
function httpsGet(port: number, servername: string, host: string, ca: TestCa): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', servername, ca: ca.certPem }, () =>
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

test('SNI picks the certificate; certificates change without a reload; TLS 1.2 and 1.3 only', async (t) => {
  const ca = await makeTestCa();
  t.after(() => ca.close());
  const { store, proxy, api, tlsPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  defer((await echoUpstream('127.0.0.23', internal, 'm1hello')).close);
  await putApp('hello');
  await putMachine('hello', 'm1hello', '127.0.0.23', { services: [httpService(internal)] });
  await store.put(keys.cert('*.apps.test'), await certRecord(ca, '*.apps.test'));
  await store.put(keys.cert('www.example.com'), await certRecord(ca, 'www.example.com', 'hello'));
  await proxy.ready;
  await proxy.synced();
  const pid = await api.pid();

  const wildcard = await handshake(tlsPort, 'hello.apps.test', ca);
  assert.deepEqual([wildcard.cn, wildcard.authorized], ['*.apps.test', true]);
  const custom = await handshake(tlsPort, 'www.example.com', ca);
  assert.deepEqual([custom.cn, custom.authorized], ['www.example.com', true]);
  const unknown = await handshake(tlsPort, 'nobody.example.org', ca);
  assert.deepEqual([unknown.cn, unknown.authorized], ['nearby default certificate', false]);

  // A custom domain with a certificate routes to its app.
  const viaCustom = await httpsGet(tlsPort, 'www.example.com', 'www.example.com', ca);
  assert.match(viaCustom, /^HTTP\/1\.1 200/);
  assert.match(viaCustom, /"machine":"m1hello"/);
  // The TLS name and the Host must agree: another app is not reached over this connection.
  const misdirected = await httpsGet(tlsPort, 'www.example.com', 'other.apps.test', ca);
  assert.match(misdirected, /^HTTP\/1\.1 421/);

  assert.equal((await handshake(tlsPort, 'hello.apps.test', ca)).protocol, 'TLSv1.3');
  assert.equal(
    (await handshake(tlsPort, 'hello.apps.test', ca, { maxVersion: 'TLSv1.2' })).protocol,
    'TLSv1.2',
  );
  await assert.rejects(
    handshake(tlsPort, 'hello.apps.test', ca, {
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    }),
    'TLS 1.1 is refused',
  );
  assert.equal(
    (await handshake(tlsPort, 'hello.apps.test', ca, { ALPNProtocols: ['h2', 'http/1.1'] })).alpn,
    'h2',
  );

  // Added, replaced and removed at runtime: the same worker serves throughout.
  await store.put(keys.cert('new.example.com'), await certRecord(ca, 'new.example.com'));
  const replaced = await certRecord(ca, 'www.example.com', 'hello');
  await store.put(keys.cert('www.example.com'), replaced);
  await proxy.synced();
  const added = await handshake(tlsPort, 'new.example.com', ca);
  assert.deepEqual([added.cn, added.authorized], ['new.example.com', true]);
  const serial = await new Promise<string>((resolve, reject) => {
    const socket = tls.connect(
      { port: tlsPort, host: '127.0.0.1', servername: 'www.example.com', ca: ca.certPem },
      () => {
        resolve(socket.getPeerCertificate().serialNumber);
        socket.destroy();
      },
    );
    socket.on('error', reject);
  });
  assert.equal(
    serial,
    new X509Certificate(replaced.cert_pem).serialNumber,
    'the replaced certificate is served',
  );
  await store.delete(keys.cert('new.example.com'));
  await proxy.synced();
  assert.equal((await handshake(tlsPort, 'new.example.com', ca)).cn, 'nearby default certificate');
  assert.equal(await api.pid(), pid, 'no reload');
});
