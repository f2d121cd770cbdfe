import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import pino from 'pino';
import type { MachineRecord, MachineStatus } from '../model/machine.ts';
import { type MachineEntry, startActivator } from './activator.ts';
import { proxyApiRefused } from './errors.ts';
import { freePort } from './test-proxy.ts';

/** One machine of app `app`, stopped (or `state`), at 127.0.0.1:`port`. */
function stoppedMachine(port: number, state: 'stopped' | 'suspended' = 'stopped'): MachineEntry {
  const record = {
    id: 'm1',
    app: 'app',
    region: 'fra',
    instance_id: 'v1',
    desired: { state: 'stopped', seq: 1 },
    config: {
      image: 'x',
      services: [
        { protocol: 'tcp', internal_port: port, ports: [{ port: 80, handlers: ['http'] }], autostop: 'stop' },
      ],
    },
  } as unknown as MachineRecord;
  const status = { id: 'm1', instance_id: 'v1', state, ipv4: '127.0.0.1' } as MachineStatus;
  return { record, status };
}

function get(
  port: number,
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .request(
        { host: '127.0.0.1', port, path, method, headers: { host: 'app.localhost' }, agent: false },
        (response) => {
          let body = '';
          response.on('data', (chunk) => {
            body += chunk;
          });
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
          );
        },
      )
      .on('error', reject)
      .end();
  });
}

/** The API's answer to a start when the org is at its spending cap, after `delayMs`. */
function refusingControl(delayMs = 0) {
  return {
    async start(_app: string, id: string) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      // What apiMachineControl throws for the API's BUDGET_EXCEEDED.
      throw proxyApiRefused(
        'start',
        id,
        402,
        'org acme reached its monthly budget of $5.00',
        'BUDGET_EXCEEDED',
      );
    },
    async stop() {},
  };
}

/**
 * A suspended machine as the activator meets it: its socket listens (the kernel accepts connections
 * for a frozen process) but nothing is answered until `thaw()`.
 */
async function frozenServer(port: number) {
  let thawed = false;
  const waiting: (() => void)[] = [];
  let reached = 0;
  const server = http.createServer((request, response) => {
    reached++;
    const answer = () => response.end(`hello ${request.url}`);
    if (thawed) answer();
    else waiting.push(answer);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    /** Requests that reached the machine's server. */
    get reached() {
      return reached;
    },
    /** Connections open to the machine's server now. */
    connections(): Promise<number> {
      return new Promise((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      );
    },
    thaw() {
      thawed = true;
      for (const answer of waiting.splice(0)) answer();
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('a suspended machine: held requests go to its socket before the API answers the start', async (t) => {
  const machinePort = await freePort();
  const frozen = await frozenServer(machinePort);
  let askedAt = 0;
  let apiAnswered: Promise<unknown> = Promise.resolve();
  const starts: string[] = [];
  const activator = await startActivator({
    region: 'fra',
    wakeTimeoutMs: 5_000,
    appOf: (host) => (host === 'app.localhost' ? 'app' : undefined),
    machinesOf: () => [stoppedMachine(machinePort, 'suspended')],
    control: {
      async start(app, id, reason) {
        starts.push(`${app}/${id}/${reason}`);
        // The agent thaws the machine as soon as the store has the start; the API's answer travels
        // back to the proxy after that (slow here, to tell the two apart).
        await new Promise((resolve) => setTimeout(resolve, 50));
        frozen.thaw();
        apiAnswered = new Promise((resolve) => setTimeout(resolve, 500));
        await apiAnswered;
        askedAt = performance.now();
      },
      async stop() {},
    },
    log: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await apiAnswered;
    await activator.close();
    await frozen.close();
  });
  const answers = await Promise.all([get(activator.address.port, '/a'), get(activator.address.port, '/b')]);
  assert.deepEqual(
    answers.map((answer) => answer.body),
    ['hello /a', 'hello /b'],
  );
  assert.equal(frozen.reached, 2);
  assert.equal(askedAt, 0, 'answered before the API answered the start');
  assert.deepEqual(starts, ['app/m1/request'], 'one wake for both');
});

test('a suspended machine whose start is refused: a GET that went to it gets the refusal, not a hang; a POST never goes', async (t) => {
  const machinePort = await freePort();
  const frozen = await frozenServer(machinePort); // never thawed
  const activator = await startActivator({
    region: 'fra',
    wakeTimeoutMs: 5_000,
    appOf: (host) => (host === 'app.localhost' ? 'app' : undefined),
    machinesOf: () => [stoppedMachine(machinePort, 'suspended')],
    control: refusingControl(100),
    log: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await activator.close();
    await frozen.close();
  });
  const answer = await get(activator.address.port, '/');
  assert.equal(answer.status, 402);
  assert.match(
    answer.body,
    /^402 payment required: cannot start machine m1: org acme reached its monthly budget/,
  );
  assert.equal(frozen.reached, 1, 'the request had reached the frozen machine');
  // A request that changes something waits for the start to be taken: refused, it never reached
  // the machine, where it would have run at the next thaw after its user was told 402.
  const post = await get(activator.address.port, '/orders', 'POST');
  assert.equal(post.status, 402);
  assert.equal(frozen.reached, 1, 'the POST did not reach the frozen machine');
  // Nor is a connection left open to it: the refused wakes' connections are closed.
  for (let tries = 0; (await frozen.connections()) > 0; tries++) {
    assert.ok(tries < 100, 'a connection to the frozen machine was left open');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

test('holds requests while one machine starts, wakes it once, and forwards them all', async (t) => {
  const machinePort = await freePort();
  const machine = stoppedMachine(machinePort);
  const starts: string[] = [];
  let upstream: http.Server | undefined;
  const activator = await startActivator({
    region: 'fra',
    wakeTimeoutMs: 5_000,
    appOf: (host) => (host === 'app.localhost' ? 'app' : undefined),
    machinesOf: () => [machine],
    control: {
      async start(app, id, reason) {
        starts.push(`${app}/${id}/${reason}`);
        // The machine's server comes up a little later, as a booting process does.
        setTimeout(() => {
          upstream = http.createServer((request, response) => response.end(`hello ${request.url}`));
          upstream.listen(machinePort, '127.0.0.1');
        }, 100);
      },
      async stop() {},
    },
    log: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await activator.close();
    upstream?.closeAllConnections();
    await new Promise((resolve) => (upstream ? upstream.close(resolve) : resolve(undefined)));
  });
  const answers = await Promise.all(
    Array.from({ length: 10 }, (_, i) => get(activator.address.port, `/r${i}`)),
  );
  assert.deepEqual(
    answers.map((answer) => answer.body),
    Array.from({ length: 10 }, (_, i) => `hello /r${i}`),
  );
  assert.deepEqual(starts, ['app/m1/request'], 'one wake for the whole burst');
});

test('a machine that never listens: 503 with Retry-After within the wake timeout, never a hang', async (t) => {
  const machine = stoppedMachine(await freePort());
  const activator = await startActivator({
    region: 'fra',
    wakeTimeoutMs: 300,
    appOf: (host) => (host === 'app.localhost' ? 'app' : undefined),
    machinesOf: () => [machine],
    control: { async start() {}, async stop() {} },
    log: pino({ level: 'silent' }),
  });
  t.after(() => activator.close());
  const answer = await get(activator.address.port, '/');
  assert.equal(answer.status, 503);
  assert.equal(answer.headers['retry-after'], '1');
  assert.match(answer.body, /machine m1 did not accept connections on port \d+ within 300 ms/);

  const noApp = await new Promise<number>((resolve, reject) =>
    http
      .get(
        {
          port: activator.address.port,
          host: '127.0.0.1',
          headers: { host: 'other.localhost' },
          agent: false,
        },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      )
      .on('error', reject),
  );
  assert.equal(noApp, 503, 'a host that is no app of this proxy');
});

test('a wake refused for the spending cap: 402 with the reason, not the failed wake 503', async (t) => {
  const machine = stoppedMachine(await freePort());
  const activator = await startActivator({
    region: 'fra',
    wakeTimeoutMs: 5_000,
    appOf: (host) => (host === 'app.localhost' ? 'app' : undefined),
    machinesOf: () => [machine],
    control: refusingControl(),
    log: pino({ level: 'silent' }),
  });
  t.after(() => activator.close());
  const answer = await get(activator.address.port, '/');
  assert.equal(answer.status, 402);
  assert.match(
    answer.body,
    /^402 payment required: cannot start machine m1: org acme reached its monthly budget/,
  );
});
