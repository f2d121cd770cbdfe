/**
 * HTTP on the shared ports through a real HAProxy: force_https, X-Forwarded-Proto/SSL on both
 * ports, HTTP/2 over TLS (ALPN) and h2c with prior knowledge, WebSocket upgrades over HTTP/1.1
 * and HTTP/2 (extended CONNECT).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { connect } from 'node:net';
import { test } from 'node:test';
import { keys } from '../model/keys.ts';
import { issueTestCert, makeTestCa } from './test-certs.ts';
import { echoUpstream, freePort, httpService, request, startTestProxy } from './test-proxy.ts';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One HTTP/2 GET; resolves with the status and the JSON the echo upstream answered. */
function h2Get(session: http2.ClientHttp2Session, authority: string, path: string) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const stream = session.request({ ':path': path, ':authority': authority });
    let status = 0;
    let body = '';
    stream.on('response', (headers) => (status = Number(headers[':status'])));
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => (body += chunk));
    stream.on('end', () => resolve({ status, body: JSON.parse(body) }));
    stream.on('error', reject);
  });
}

/** A masked client text frame (RFC 6455 §5.2), for payloads under 126 bytes. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

test('force_https, forwarded headers on both ports, HTTP/2 and h2c, WebSocket over HTTP/1.1 and HTTP/2', async (t) => {
  const ca = await makeTestCa();
  t.after(() => ca.close());
  const { store, proxy, httpPort, tlsPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  const upstream = await echoUpstream('127.0.0.24', internal, 'm1');
  defer(upstream.close);
  // A WebSocket echo: the handshake, then every frame back unmasked.
  upstream.server.on('upgrade', (req, socket) => {
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}${WS_GUID}`)
      .digest('base64');
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.on('end', () => socket.end());
    socket.on('data', (frame: Buffer) => {
      const length = frame[1] & 0x7f;
      const mask = frame.subarray(2, 6);
      const payload = Buffer.from(frame.subarray(6, 6 + length).map((byte, i) => byte ^ mask[i % 4]));
      socket.write(Buffer.concat([Buffer.from([0x81, length]), payload]));
    });
  });
  await putApp('plain');
  await putApp('secure');
  await putMachine('plain', 'm1plain', '127.0.0.24', { services: [httpService(internal)] });
  await putMachine('secure', 'm1secure', '127.0.0.24', {
    services: [
      httpService(internal, {
        ports: [
          { port: 80, handlers: ['http'], force_https: true },
          { port: 443, handlers: ['tls', 'http'] },
        ],
      }),
    ],
  });
  const cert = await issueTestCert(ca, ['*.apps.test']);
  await store.put(keys.cert('*.apps.test'), {
    hostname: '*.apps.test',
    ...cert,
    not_after: '',
    source: 'upload',
  });
  await proxy.ready;
  await proxy.synced();

  const get = await request(httpPort, 'secure.apps.test', '/docs?page=2');
  assert.equal(get.status, 301);
  assert.equal(get.headers.location, `https://secure.apps.test:${tlsPort}/docs?page=2`);
  const post = await request(httpPort, 'secure.apps.test:80', '/form', { method: 'POST', body: 'x=1' });
  assert.equal(post.status, 308, 'the method and body are kept');
  assert.equal(post.headers.location, `https://secure.apps.test:${tlsPort}/form`);

  const plain = JSON.parse(
    (await request(httpPort, 'plain.apps.test', '/', { headers: { 'x-forwarded-proto': 'https' } })).body,
  );
  assert.equal(plain.headers['x-forwarded-proto'], 'http', 'a client cannot claim https');
  assert.equal(plain.headers['x-forwarded-ssl'], 'off');

  // HTTP/2 over TLS (ALPN h2); the machine gets HTTP/1.1.
  const tlsSession = http2.connect(`https://secure.apps.test:${tlsPort}`, {
    ca: ca.certPem,
    servername: 'secure.apps.test',
    host: '127.0.0.1',
  } as http2.SecureClientSessionOptions);
  tlsSession.on('error', () => {});
  const overTls = await h2Get(tlsSession, `secure.apps.test:${tlsPort}`, '/h2');
  tlsSession.destroy();
  assert.equal(overTls.status, 200);
  assert.equal((overTls.body.headers as Record<string, string>)['x-forwarded-proto'], 'https');
  assert.equal((overTls.body.headers as Record<string, string>)['x-forwarded-ssl'], 'on');
  assert.equal(overTls.body.url, '/h2');

  // h2c with prior knowledge on the plain port.
  const h2c = http2.connect(`http://127.0.0.1:${httpPort}`);
  h2c.on('error', () => {});
  const cleartext = await h2Get(h2c, 'plain.apps.test', '/h2c');
  h2c.destroy();
  assert.equal(cleartext.status, 200);
  assert.equal(cleartext.body.machine, 'm1');
  assert.equal((cleartext.body.headers as Record<string, string>)['x-forwarded-proto'], 'http');

  // WebSocket over HTTP/1.1, raw bytes.
  const socket = connect(httpPort, '127.0.0.1');
  defer(() => socket.destroy());
  const received: Buffer[] = [];
  const more = () =>
    new Promise<void>((resolve) =>
      socket.once('data', (chunk: Buffer) => {
        received.push(chunk);
        resolve();
      }),
    );
  let next = more();
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: plain.apps.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await next;
  const handshake = Buffer.concat(received).toString();
  assert.match(handshake, /^HTTP\/1\.1 101 /);
  assert.match(handshake, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
  received.length = 0;
  next = more();
  socket.write(clientFrame('hello over websocket'));
  await next;
  const frame = Buffer.concat(received);
  assert.equal(frame[0], 0x81, 'a final text frame');
  assert.equal(frame.subarray(2, 2 + frame[1]).toString(), 'hello over websocket');
  socket.destroy();

  // WebSocket over HTTP/2 (extended CONNECT, RFC 8441); the machine gets an HTTP/1.1 upgrade.
  const session = http2.connect(`https://plain.apps.test:${tlsPort}`, {
    ca: ca.certPem,
    servername: 'plain.apps.test',
    host: '127.0.0.1',
  } as http2.SecureClientSessionOptions);
  session.on('error', () => {});
  defer(() => session.destroy());
  await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
  assert.equal(session.remoteSettings.enableConnectProtocol, true);
  const tunnel = session.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':path': '/ws2',
    ':scheme': 'https',
    ':authority': 'plain.apps.test',
    'sec-websocket-version': '13',
  });
  const status = await new Promise<number>((resolve) =>
    tunnel.once('response', (headers) => resolve(Number(headers[':status']))),
  );
  assert.equal(status, 200);
  const echoed = new Promise<Buffer>((resolve) => tunnel.once('data', (chunk: Buffer) => resolve(chunk)));
  tunnel.write(clientFrame('over h2'));
  const h2Frame = await echoed;
  assert.equal(h2Frame.subarray(2, 2 + h2Frame[1]).toString(), 'over h2');
  tunnel.close();
  session.destroy();
});
