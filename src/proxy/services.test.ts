/**
 * Dedicated ports through a real HAProxy: raw TCP passthrough (a Redis-protocol client), TLS then
 * TCP, PROXY protocol v1 and v2 to the machine, and an HTTP port forcing HTTPS.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { echoUpstream, freePort, rawExchange, request, startTestProxy } from './test-proxy.ts';

/** A tiny Redis-protocol server that also reports the PROXY header it got, if any. */
async function redisLike(address: string, port: number) {
  const proxyHeaders: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let first = true;
    socket.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (first) {
        first = false;
        if (data.subarray(0, 6).toString() === 'PROXY ') {
          const end = data.indexOf('\r\n') + 2;
          proxyHeaders.push(data.subarray(0, end));
          data = data.subarray(end);
        } else if (data.subarray(0, 12).equals(Buffer.from('0d0a0d0a000d0a515549540a', 'hex'))) {
          const end = 16 + data.readUInt16BE(14);
          proxyHeaders.push(data.subarray(0, end));
          data = data.subarray(end);
        }
      }
      const text = data.toString();
      if (text === '') return;
      if (text.startsWith('*1\r\n$4\r\nPING')) socket.write('+PONG\r\n');
      else socket.write(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    proxyHeaders,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes `message` and resolves with the first bytes that come back. */
function exchange(socket: Socket | tls.TLSSocket, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk) => resolve(chunk.toString()));
    socket.once('error', reject);
    socket.write(message);
  });
}

function openTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

test('dedicated ports: raw TCP, TLS then TCP, PROXY protocol v1 and v2, port ranges', async (t) => {
  const { proxy, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  const upstream = await redisLike('127.0.0.21', internal);
  defer(upstream.close);
  const [raw, tlsPort, v1, v2, rangeStart] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  await putApp('cache');
  await putMachine('cache', 'm1cache', '127.0.0.21', {
    services: [
      {
        protocol: 'tcp',
        internal_port: internal,
        ports: [
          { port: raw },
          { port: tlsPort, handlers: ['tls'] },
          { port: v1, handlers: ['proxy_proto'] },
          { port: v2, handlers: ['proxy_proto'], proxy_proto_options: { version: 'v2' } },
          { start_port: rangeStart, end_port: rangeStart },
        ],
      },
    ],
  });
  await proxy.ready;
  await proxy.synced();

  const plain = await openTcp(raw);
  assert.equal(await exchange(plain, '*1\r\n$4\r\nPING\r\n'), '+PONG\r\n', 'a Redis PING through raw TCP');
  assert.equal(await exchange(plain, 'hello, bytes'), 'hello, bytes');
  plain.destroy();
  assert.equal(upstream.proxyHeaders.length, 0, 'no PROXY header unless asked for');

  const secure = tls.connect({
    port: tlsPort,
    host: '127.0.0.1',
    servername: 'cache.example',
    rejectUnauthorized: false,
  });
  await new Promise((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
  assert.equal(secure.getPeerCertificate().subject.CN, 'nearby default certificate');
  assert.equal(
    await exchange(secure, '*1\r\n$4\r\nPING\r\n'),
    '+PONG\r\n',
    'TLS ends at the proxy, TCP goes on',
  );
  secure.destroy();

  const one = await openTcp(v1);
  assert.equal(await exchange(one, 'after v1'), 'after v1');
  assert.match(
    upstream.proxyHeaders[0].toString(),
    new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 ${one.localPort} ${v1}\r\n$`),
  );
  one.destroy();

  const two = await openTcp(v2);
  assert.equal(await exchange(two, 'after v2'), 'after v2');
  const header = upstream.proxyHeaders[1];
  assert.equal(header[12], 0x21, 'version 2, PROXY command');
  assert.equal(header[13], 0x11, 'TCP over IPv4');
  assert.equal(header.readUInt16BE(24), two.localPort, 'the client port');
  assert.equal(header.readUInt16BE(26), v2, 'the port the client connected to');
  two.destroy();

  const ranged = await openTcp(rangeStart);
  assert.equal(await exchange(ranged, 'in range'), 'in range');
  ranged.destroy();
});

test('a dedicated HTTP port forces HTTPS to the TLS listener; a dedicated TLS+HTTP port serves', async (t) => {
  const { proxy, putApp, putMachine, defer, tlsPort } = await startTestProxy(t);
  const internal = await freePort();
  defer((await echoUpstream('127.0.0.22', internal, 'm1web')).close);
  const [plainPort, securePort] = [await freePort(), await freePort()];
  await putApp('web');
  await putMachine('web', 'm1web', '127.0.0.22', {
    services: [
      {
        protocol: 'tcp',
        internal_port: internal,
        ports: [
          { port: plainPort, handlers: ['http'], force_https: true },
          { port: securePort, handlers: ['tls', 'http'] },
        ],
      },
    ],
  });
  await proxy.ready;
  await proxy.synced();

  const redirected = await request(plainPort, 'web.example.com', '/a?b=c');
  assert.equal(redirected.status, 301);
  assert.equal(redirected.headers.location, `https://web.example.com:${tlsPort}/a?b=c`);

  const answer = await new Promise<string>((resolve, reject) => {
    const socket = tls.connect(
      { port: securePort, host: '127.0.0.1', servername: 'web.example.com', rejectUnauthorized: false },
      () => socket.end('GET /x HTTP/1.1\r\nHost: web.example.com\r\nConnection: close\r\n\r\n'),
    );
    let body = '';
    socket.on('data', (chunk) => (body += chunk));
    socket.on('end', () => resolve(body));
    socket.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 200/);
  assert.match(answer, /"x-forwarded-proto":"https"/);
  assert.match(answer, /"x-forwarded-ssl":"on"/);

  // Whatever the Host, a dedicated port reaches only its own app.
  const anyHost = await rawExchange(
    plainPort,
    'GET / HTTP/1.1\r\nHost: other.apps.test\r\nConnection: close\r\n\r\n',
  );
  assert.match(anyHost, /^HTTP\/1\.1 301/);
});
