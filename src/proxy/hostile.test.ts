/**
 * Hostile clients, as raw bytes over TCP, against a real HAProxy: oversized and slow requests,
 * request smuggling, cross-app tricks; then a graceful drain on stop().
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { echoUpstream, freePort, httpService, rawExchange, request, startTestProxy } from './test-proxy.ts';

const statusLine = (answer: string) => answer.split('\r\n')[0];

test('hostile requests: limits, smuggling, cross-app tricks', async (t) => {
  const { proxy, httpPort, putApp, putMachine, defer } = await startTestProxy(t, {
    limits: { httpRequest: '1s', httpKeepAlive: '1s', maxBodyBytes: 1000 },
  });
  const internal = await freePort();
  const seen: { machine: string; method?: string; url?: string; headers: http.IncomingHttpHeaders }[] = [];
  const record = (machine: string) => (req: http.IncomingMessage) => {
    seen.push({ machine, method: req.method, url: req.url, headers: req.headers });
    return false;
  };
  defer((await echoUpstream('127.0.0.32', internal, 'good', record('good'))).close);
  defer((await echoUpstream('127.0.0.33', internal, 'victim', record('victim'))).close);
  await putApp('good');
  await putApp('victim');
  await putMachine('good', 'm1good', '127.0.0.32', { services: [httpService(internal)] });
  await putMachine('victim', 'm1victim', '127.0.0.33', { services: [httpService(internal)] });
  await proxy.ready;
  await proxy.synced();
  const send = (bytes: string) => rawExchange(httpPort, bytes);
  const head = 'Host: good.apps.test\r\nConnection: close\r\n';

  const bigHeader = await send(`GET / HTTP/1.1\r\n${head}X-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(statusLine(bigHeader), /^HTTP\/1\.[01] 400/, 'headers over 15 KiB');
  assert.match(bigHeader, /Your browser sent an invalid request/);
  const manyHeaders = Array.from({ length: 150 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
  assert.match(statusLine(await send(`GET / HTTP/1.1\r\n${head}${manyHeaders}\r\n`)), / 400 /, '150 headers');
  const longUri = await send(`GET /${'u'.repeat(9000)} HTTP/1.1\r\n${head}\r\n`);
  assert.match(statusLine(longUri), / 414 /);
  assert.match(longUri, /URI too long: at most 8192 bytes/);
  const bigBody = await send(`POST / HTTP/1.1\r\n${head}Content-Length: 5000\r\n\r\n${'b'.repeat(5000)}`);
  assert.match(statusLine(bigBody), / 413 /);

  // Slow headers (slowloris): cut after `timeout http-request`.
  const slow = await rawExchange(httpPort, 'GET / HTTP/1.1\r\nHost: good.apps.test\r\nX-Slow: 1', 10_000);
  assert.match(statusLine(slow), / 408 /);
  assert.match(slow, /didn't send a complete request in time/);

  // An idle keep-alive connection is closed by the proxy.
  const idleClosed = await new Promise<boolean>((resolve) => {
    const socket = connect(httpPort, '127.0.0.1', () =>
      socket.write('GET / HTTP/1.1\r\nHost: good.apps.test\r\n\r\n'),
    );
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 10_000);
    socket.on('data', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  assert.ok(idleClosed, 'idle keep-alive closed');

  // Smuggling. Conflicting Content-Lengths: refused.
  const twoLengths = await send(
    `POST / HTTP/1.1\r\n${head}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  );
  assert.match(statusLine(twoLengths), / 400 /);
  // Content-Length with Transfer-Encoding: the body is read as chunked (RFC 9112 §6.3), the
  // length dropped, and the connection closed after the answer, so bytes hidden in the body never
  // become a request to another app.
  seen.length = 0;
  const smuggle =
    'POST / HTTP/1.1\r\nHost: good.apps.test\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: victim.apps.test\r\n\r\n';
  const smuggled = await send(smuggle);
  assert.match(statusLine(smuggled), /^HTTP\/1\.1 (200|400)/);
  await sleep(200);
  assert.ok(!seen.some((one) => one.machine === 'victim'), 'nothing reached the other app');
  for (const one of seen) assert.equal(one.headers['content-length'], undefined);
  // Folded (obs-fold) header lines are joined into one line: the machine never sees a fold.
  seen.length = 0;
  const folded = await send(`GET /folded HTTP/1.1\r\n${head}X-Folded: one\r\n two\r\n\r\n`);
  assert.match(statusLine(folded), /^HTTP\/1\.1 (200|400)/);
  for (const one of seen) assert.doesNotMatch(String(one.headers['x-folded']), /[\r\n]/);

  // Cross-app tricks: the Host decides, consistently, and ambiguity is refused.
  seen.length = 0;
  const absolute = await send(
    'GET http://victim.apps.test/ HTTP/1.1\r\nHost: good.apps.test\r\nConnection: close\r\n\r\n',
  );
  assert.match(statusLine(absolute), / 400 /, 'an absolute URI naming another host than Host');
  const twoHosts = await send(
    'GET / HTTP/1.1\r\nHost: good.apps.test\r\nHost: victim.apps.test\r\nConnection: close\r\n\r\n',
  );
  assert.match(statusLine(twoHosts), / 400 /, 'two Host headers');
  const withPort = await request(httpPort, 'victim.apps.test:80', '/');
  assert.equal(JSON.parse(withPort.body).machine, 'victim');
  const suffix = await request(httpPort, 'victim.apps.test.evil.example', '/');
  assert.equal(suffix.status, 404);
  assert.deepEqual(
    seen.map((one) => one.machine),
    ['victim'],
    'only the request addressed to victim reached it',
  );
});

test('graceful drain: stop() refuses new connections and finishes the requests in flight', async (t) => {
  const { proxy, httpPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  const held: http.ServerResponse[] = [];
  defer(
    (
      await echoUpstream('127.0.0.34', internal, 'm1', (req, res) => {
        if (req.url !== '/slow') return false;
        held.push(res);
        return true;
      })
    ).close,
  );
  await putApp('drain');
  await putMachine('drain', 'm1drain', '127.0.0.34', { services: [httpService(internal)] });
  await proxy.ready;
  await proxy.synced();

  const inFlight = request(httpPort, 'drain.apps.test', '/slow');
  while (held.length === 0) await sleep(5);
  const stopped = proxy.stop();
  // New connections are refused while the request in flight goes on.
  let refused = false;
  for (let attempt = 0; attempt < 200 && !refused; attempt++) {
    refused = await request(httpPort, 'drain.apps.test', '/').then(
      () => false,
      (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED',
    );
    if (!refused) await sleep(10);
  }
  assert.ok(refused, 'the listener is closed');
  held[0].end('finished');
  const answer = await inFlight;
  assert.equal(answer.status, 200);
  assert.equal(answer.body, 'finished');
  await stopped;
});
