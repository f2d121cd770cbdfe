/**
 * The spending cap at the edge, on a real HAProxy: an app of a suspended org answers 402 with a
 * page naming the reason (HTML or text), gRPC clients get RESOURCE_EXHAUSTED with the reason, a
 * raw TCP service's connections are closed; a cleared cap serves them again (a map change, no reload).
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { billingStateKey } from '../billing/enforce.ts';
import { monthOf } from '../billing/meter.ts';
import { budgetKey } from '../billing/store.ts';
import { echoUpstream, freePort, httpService, rawExchange, request, startTestProxy } from './test-proxy.ts';

const Client = grpc.makeGenericClientConstructor(
  {
    echo: {
      path: '/nearby.test.Echo/Echo',
      requestStream: false,
      responseStream: false,
      requestSerialize: (text: string) => Buffer.from(text),
      requestDeserialize: (buffer: Buffer) => buffer.toString(),
      responseSerialize: (text: string) => Buffer.from(text),
      responseDeserialize: (buffer: Buffer) => buffer.toString(),
    },
  } as unknown as grpc.ServiceDefinition,
  'Echo',
);

test('a suspended org: 402 page, gRPC RESOURCE_EXHAUSTED, TCP closed; served again once the cap is cleared', async (t) => {
  const { store, proxy, httpPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  defer((await echoUpstream('127.0.0.31', internal, 'm1cap')).close);
  const tcpInternal = await freePort();
  const tcpServer = createServer((socket: Socket) => socket.end('hello over tcp\n'));
  await new Promise<void>((resolve) => tcpServer.listen(tcpInternal, '127.0.0.31', resolve));
  defer(() => new Promise((resolve) => tcpServer.close(resolve)));
  const tcpPort = await freePort();
  await putApp('capped');
  await putMachine('capped', 'm1cap', '127.0.0.31', {
    services: [
      httpService(internal),
      { protocol: 'tcp', internal_port: tcpInternal, ports: [{ port: tcpPort }] },
    ],
  });
  await proxy.ready;
  await proxy.synced();
  const host = 'capped.apps.test';
  assert.equal((await request(httpPort, host)).status, 200);
  assert.equal(await rawExchange(tcpPort, ''), 'hello over tcp\n');

  await store.put(budgetKey('personal'), { cap_usd: 12.5 });
  await store.put(billingStateKey('personal'), {
    month: monthOf(Date.now()),
    level: 'suspended',
    percent: 104,
    announced: [50, 80, 100],
    cap_usd: 12.5,
  });
  await proxy.synced();
  const page = await request(httpPort, host, '/', { headers: { accept: 'text/html' } });
  assert.equal(page.status, 402, page.body);
  assert.match(page.headers['content-type'] ?? '', /text\/html/);
  assert.match(page.body, /org personal reached its monthly spending cap of \$12\.50/);
  assert.match(page.body, /<code>nearby billing budget set AMOUNT --org personal<\/code>/);
  const plain = await request(httpPort, host, '/anything');
  assert.equal(plain.status, 402);
  assert.match(plain.body, /^402 payment required\n\napp 'capped' is suspended: org personal reached/);

  const client = new Client(`127.0.0.1:${httpPort}`, grpc.credentials.createInsecure(), {
    'grpc.default_authority': host,
  }) as unknown as grpc.Client & {
    echo(request: string, callback: (error: grpc.ServiceError | null) => void): void;
  };
  defer(() => client.close());
  const error = await new Promise<grpc.ServiceError | null>((resolve) => client.echo('hi', resolve));
  assert.equal(error?.code, grpc.status.RESOURCE_EXHAUSTED, String(error));
  assert.match(error?.details ?? '', /org personal reached its monthly spending cap of USD 12\.50/);

  assert.equal(await rawExchange(tcpPort, '', 2000), '', 'a raw TCP connection is closed at once');

  await store.delete(budgetKey('personal'));
  await proxy.synced();
  assert.equal((await request(httpPort, host)).status, 200, 'a cleared cap serves the app at once');
  assert.equal(await rawExchange(tcpPort, ''), 'hello over tcp\n');
});
