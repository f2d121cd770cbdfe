/**
 * gRPC end to end with @grpc/grpc-js on both sides: the machine's upstream is a grpc-js server
 * (h2c, `http_options.h2_backend = true`); clients come over h2c and over TLS (ALPN h2). Unary and
 * server-streaming calls, trailers and a non-OK grpc-status arrive intact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { keys } from '../model/keys.ts';
import { issueTestCert, makeTestCa } from './test-certs.ts';
import { freePort, startTestProxy } from './test-proxy.ts';

// Messages are raw bytes (UTF-8 text): no .proto needed to test the transport.
const bytes = {
  requestSerialize: (text: string) => Buffer.from(text),
  requestDeserialize: (buffer: Buffer) => buffer.toString(),
  responseSerialize: (text: string) => Buffer.from(text),
  responseDeserialize: (buffer: Buffer) => buffer.toString(),
};
const service = {
  echo: { path: '/nearby.test.Echo/Echo', requestStream: false, responseStream: false, ...bytes },
  count: { path: '/nearby.test.Echo/Count', requestStream: false, responseStream: true, ...bytes },
} as const;

async function grpcServer(address: string, port: number, machine: string) {
  const server = new grpc.Server();
  server.addService(service as unknown as grpc.ServiceDefinition, {
    echo(call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) {
      if (call.request === 'missing') {
        const trailer = new grpc.Metadata();
        trailer.set('x-reason', 'no such thing');
        callback({ code: grpc.status.NOT_FOUND, details: 'missing is not here', metadata: trailer });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-machine', machine);
      callback(null, `echo: ${call.request}`, trailer);
    },
    count(call: grpc.ServerWritableStream<string, string>) {
      const total = Number(call.request);
      for (let i = 1; i <= total; i++) call.write(`${i} of ${total}`);
      const trailer = new grpc.Metadata();
      trailer.set('x-count', String(total));
      call.end(trailer);
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${address}:${port}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  return { close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

interface UnaryResult {
  error?: grpc.ServiceError;
  value?: string;
  trailers?: grpc.Metadata;
}

type Client = grpc.Client & {
  echo(
    request: string,
    callback: (error: grpc.ServiceError | null, value?: string) => void,
  ): grpc.ClientUnaryCall;
  count(request: string): grpc.ClientReadableStream<string>;
};

function unary(client: Client, message: string): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const result: UnaryResult = {};
    let pending = 2;
    const done = () => --pending === 0 && resolve(result);
    const call = client.echo(message, (error, value) => {
      if (error) result.error = error;
      else result.value = value;
      done();
    });
    call.on('status', (status: grpc.StatusObject) => {
      result.trailers = status.metadata;
      done();
    });
  });
}

function stream(client: Client, total: number): Promise<{ messages: string[]; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    const messages: string[] = [];
    const call = client.count(String(total));
    call.on('data', (message: string) => messages.push(message));
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
    call.on('error', (error: Error) => {
      if ((error as grpc.ServiceError).code === undefined) reject(error);
    });
  });
}

const Client = grpc.makeGenericClientConstructor(service as unknown as grpc.ServiceDefinition, 'Echo');

test('gRPC through the proxy: unary, server streaming, trailers and grpc-status, over h2c and TLS', async (t) => {
  const ca = await makeTestCa();
  t.after(() => ca.close());
  const { store, proxy, httpPort, tlsPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  defer((await grpcServer('127.0.0.25', internal, 'm1grpc')).close);
  await putApp('grpc');
  const httpOptions = { h2_backend: true };
  await putMachine('grpc', 'm1grpc', '127.0.0.25', {
    services: [
      {
        protocol: 'tcp',
        internal_port: internal,
        ports: [
          { port: 80, handlers: ['http'], http_options: httpOptions },
          { port: 443, handlers: ['tls', 'http'], http_options: httpOptions },
        ],
      },
    ],
  });
  const cert = await issueTestCert(ca, ['grpc.apps.test']);
  await store.put(keys.cert('grpc.apps.test'), {
    hostname: 'grpc.apps.test',
    ...cert,
    not_after: '',
    source: 'upload',
  });
  await proxy.ready;
  await proxy.synced();

  const clients: Client[] = [
    new Client(`127.0.0.1:${httpPort}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': 'grpc.apps.test',
    }) as unknown as Client,
    new Client(`127.0.0.1:${tlsPort}`, grpc.credentials.createSsl(Buffer.from(ca.certPem)), {
      'grpc.ssl_target_name_override': 'grpc.apps.test',
      'grpc.default_authority': 'grpc.apps.test',
    }) as unknown as Client,
  ];
  defer(() => {
    for (const client of clients) client.close();
  });
  for (const [index, client] of clients.entries()) {
    const via = index === 0 ? 'h2c' : 'TLS';
    const ok = await unary(client, 'hi');
    assert.equal(ok.error, undefined, via);
    assert.equal(ok.value, 'echo: hi', via);
    assert.deepEqual(ok.trailers?.get('x-machine'), ['m1grpc'], `${via}: trailers arrive`);

    const missing = await unary(client, 'missing');
    assert.equal(missing.error?.code, grpc.status.NOT_FOUND, `${via}: a non-OK grpc-status`);
    assert.equal(missing.error?.details, 'missing is not here');
    assert.deepEqual(missing.trailers?.get('x-reason'), ['no such thing']);

    const counted = await stream(client, 5);
    assert.deepEqual(counted.messages, ['1 of 5', '2 of 5', '3 of 5', '4 of 5', '5 of 5'], via);
    assert.equal(counted.status.code, grpc.status.OK);
    assert.deepEqual(counted.status.metadata.get('x-count'), ['5']);
  }
});
