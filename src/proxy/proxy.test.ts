import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { keys } from '../model/keys.ts';
import type { AppRecord, MachineRecord, MachineState, MachineStatus } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { proxyPaths, startProxy } from './mod.ts';
import { cliCommand, parseShowProc, RuntimeApi } from './runtime-api.ts';
import { freePort, haproxyProcesses } from './test-proxy.ts';

const HOST = 'host-1';
const now = () => new Date().toISOString();

function appRecord(name: string): AppRecord {
  return { id: `id-${name}`, name, org_slug: 'personal', network: 'default', created_at: now() };
}

function machineRecord(app: string, id: string, port: number, instance = '01INSTANCE1'): MachineRecord {
  return {
    id,
    name: `${app}-${id}`,
    app,
    region: 'fra',
    host: HOST,
    instance_id: instance,
    config: {
      image: 'registry.nearby.local/hello:latest',
      services: [
        {
          protocol: 'tcp',
          internal_port: port,
          ports: [
            { port: 80, handlers: ['http'] },
            { port: 443, handlers: ['tls', 'http'] },
          ],
        },
      ],
    },
    image_ref: { registry: 'registry.nearby.local', repository: 'hello', tag: 'latest', digest: 'sha256:00' },
    desired: { state: 'started', seq: 1 },
    events: [],
    created_at: now(),
    updated_at: now(),
  };
}

function machineStatus(record: MachineRecord, state: MachineState, ipv4: string): MachineStatus {
  return {
    id: record.id,
    app: record.app,
    instance_id: record.instance_id,
    state,
    seq: record.desired.seq,
    ipv4,
    restarts: 0,
    events: [],
    updated_at: now(),
  };
}

/** A machine stand-in: answers with its name and the headers it received. */
async function upstream(address: string, port: number, name: string) {
  const held: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/crash') {
      req.socket.destroy();
      return;
    }
    if (req.url === '/hold') {
      held.push(() => res.end(JSON.stringify({ machine: name, held: true })));
      return;
    }
    const delay = req.url === '/slow' ? 100 : 0;
    setTimeout(() => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ machine: name, headers: req.headers }));
    }, delay);
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    /** Requests to /hold waiting for `release`. */
    held: () => held.length,
    release: () => {
      for (const finish of held.splice(0)) finish();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, host: string, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, path, headers: { host, ...headers }, agent: false },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

async function setup(t: test.TestContext) {
  const dataDir = mkdtempSync(join(tmpdir(), 'nearby-proxy-'));
  const store = new SqliteStore(join(dataDir, 'state.db'));
  const logLines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, callback) {
        logLines.push(String(chunk));
        if (process.env.PROXY_TEST_LOG) process.stderr.write(chunk);
        callback();
      },
    }),
  );
  const port = await freePort();
  const tlsPort = await freePort();
  const paths = proxyPaths(dataDir);
  // HAProxy writes the access log itself, to the file descriptor it is given.
  const accessLogFile = join(dataDir, 'access.log');
  const accessLogFd = openSync(accessLogFile, 'a');
  const proxy = startProxy({
    store,
    region: 'fra',
    dataDir,
    httpListen: `127.0.0.1:${port}`,
    tlsListen: `127.0.0.1:${tlsPort}`,
    accessLog: { fd: accessLogFd, format: 'json' },
    log,
  });
  /**
   * The access log's request lines so far, parsed. (An old worker stopping after a reload adds
   * a `Proxy … stopped` notice: HAProxy 2.6 has no switch for it.)
   */
  const accessLog = () =>
    readFileSync(accessLogFile, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !/^Proxy \S+ (started|stopped)/.test(line))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => {
    await proxy.stop();
    for (const close of closers) await close();
    await store.close();
    closeSync(accessLogFd);
    for (const pid of haproxyProcesses(paths.config)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });
  const machinePort = await freePort();
  const api = new RuntimeApi(paths.adminSocket);
  /** Machine ids by address: HAProxy reports server slots (`s3`) pointed at addresses. */
  const machineAt = new Map<string, string>();
  /** The machines in a backend's slots, with whether each is in maintenance. */
  const slotted = async (backend: string) =>
    (await api.servers())
      .filter((server) => server.backend === backend && server.address !== '0.0.0.0')
      .map((server) => [machineAt.get(server.address) ?? server.address, server.adminState & 0x01] as const);
  /** Starts an upstream on 127.0.0.<n> and records a started machine for it. */
  async function startMachine(app: string, id: string, n: number) {
    const address = `127.0.0.${n}`;
    machineAt.set(address, id);
    const server = await upstream(address, machinePort, id);
    closers.push(server.close);
    const record = machineRecord(app, id, machinePort);
    await store.put(keys.machine(app, id), record);
    await store.put(keys.machineStatus(HOST, id), machineStatus(record, 'started', address));
    return { record, address, server };
  }
  return { store, proxy, port, paths, api, logLines, accessLog, machinePort, startMachine, slotted };
}

test('routes by host, shares load, adds headers, and changes servers without reloading', async (t) => {
  const { store, proxy, port, api, accessLog, machinePort, startMachine, slotted } = await setup(t);
  await store.put(keys.app('hello'), appRecord('hello'));
  await store.put(keys.app('other'), appRecord('other'));
  const one = await startMachine('hello', 'm1hello', 2);
  await startMachine('hello', 'm2hello', 3);
  await startMachine('other', 'm1other', 4);
  await proxy.ready;
  await proxy.synced();
  const pid = await api.pid();

  const other = await get(port, 'Other.localhost:8080');
  assert.equal(other.status, 200);
  assert.equal(JSON.parse(other.body).machine, 'm1other');

  // Concurrent slow requests: leastconn spreads them over both machines.
  const answers = await Promise.all(Array.from({ length: 12 }, () => get(port, 'hello.localhost', '/slow')));
  const machines = new Set(answers.map((answer) => JSON.parse(answer.body).machine));
  assert.deepEqual([...machines].sort(), ['m1hello', 'm2hello']);

  const { headers } = JSON.parse(
    (
      await get(port, 'hello.localhost', '/', {
        'x-forwarded-for': '203.0.113.9',
        via: '1.0 corp',
        'fly-region': 'x',
      })
    ).body,
  );
  assert.equal(headers['fly-client-ip'], '127.0.0.1');
  assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
  assert.equal(headers['x-forwarded-proto'], 'http');
  assert.equal(headers['x-forwarded-port'], String(port));
  assert.equal(headers['fly-forwarded-port'], String(port));
  assert.equal(headers['fly-region'], 'fra');
  assert.match(
    headers['fly-request-id'],
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}-fra$/,
  );
  // Each proxy names itself by its host name (`Via: 1.1 <host>`), so a hop across hosts shows.
  assert.equal(headers.via, `1.0 corp, 1.1 ${hostname()}`);
  const ids = new Set(answers.map((answer) => JSON.parse(answer.body).headers['fly-request-id']));
  assert.equal(ids.size, answers.length, 'every request has its own id');

  // The machine stops: it leaves rotation through the Runtime API, not a reload.
  await store.put(keys.machineStatus(HOST, 'm1hello'), machineStatus(one.record, 'stopped', one.address));
  await proxy.synced();
  for (let i = 0; i < 6; i++) {
    assert.equal(JSON.parse((await get(port, 'hello.localhost')).body).machine, 'm2hello');
  }
  assert.equal(await api.pid(), pid, 'same HAProxy worker: no reload');
  const inRotation = async () =>
    (await slotted('app_hello')).filter(([, maintenance]) => maintenance === 0).map(([name]) => name);
  assert.deepEqual(await inRotation(), ['m2hello']);

  // A new instance of the same machine (the agent has not reported it yet) is not routed to.
  await store.put(keys.machine('hello', 'm1hello'), { ...one.record, instance_id: '01INSTANCE2' });
  await store.put(keys.machineStatus(HOST, 'm1hello'), machineStatus(one.record, 'started', one.address));
  await proxy.synced();
  assert.deepEqual(await inRotation(), ['m2hello']);
  // …until it reports that instance started: back in rotation, still without a reload.
  await store.put(keys.machineStatus(HOST, 'm1hello'), {
    ...machineStatus(one.record, 'started', one.address),
    instance_id: '01INSTANCE2',
  });
  await proxy.synced();
  const again = await Promise.all(Array.from({ length: 8 }, () => get(port, 'hello.localhost', '/slow')));
  assert.equal(new Set(again.map((answer) => JSON.parse(answer.body).machine)).size, 2);
  assert.equal(await api.pid(), pid, 'same HAProxy worker: no reload');

  // A new app changes the set of backends: one reload, then it routes.
  await store.put(keys.app('world'), appRecord('world'));
  await startMachine('world', 'm1world', 5);
  await proxy.synced();
  const world = await get(port, 'world.localhost');
  assert.equal(world.status, 200);
  assert.equal(JSON.parse(world.body).machine, 'm1world');
  assert.notEqual(await api.pid(), pid, 'a new worker after the reload');
  assert.equal(JSON.parse((await get(port, 'other.localhost')).body).machine, 'm1other');

  // A burst of machines beyond the backend's slots (8) grows its pool by doubling: one reload.
  const worldPid = await api.pid();
  const burst = await Promise.all(
    Array.from({ length: 20 }, async (_, i) => {
      const record = machineRecord('world', `burst${i}`, machinePort);
      await store.put(keys.machine('world', record.id), record);
      await store.put(keys.machineStatus(HOST, record.id), machineStatus(record, 'started', '127.0.0.5'));
      return record;
    }),
  );
  await proxy.synced();
  const worldSlots = (await api.servers()).filter((server) => server.backend === 'app_world');
  assert.equal(worldSlots.length, 32, 'the pool doubled from 8 until 21 machines fit');
  assert.equal(worldSlots.filter((server) => (server.adminState & 0x01) === 0).length, 21);
  assert.notEqual(await api.pid(), worldPid);
  assert.equal((await get(port, 'world.localhost')).status, 200);
  // Within the pool, machines come and go without a reload.
  const grownPid = await api.pid();
  await store.put(keys.machineStatus(HOST, burst[0].id), machineStatus(burst[0], 'stopped', '127.0.0.5'));
  await proxy.synced();
  const after = (await api.servers()).filter((server) => server.backend === 'app_world');
  assert.equal(after.filter((server) => (server.adminState & 0x01) === 0).length, 20);
  assert.equal(await api.pid(), grownPid, 'same worker: no reload');

  // One JSON line per request, written by HAProxy, naming the machine behind the slot.
  await get(port, 'world.localhost', '/json?q="x"&a[0]=\\');
  let lines = accessLog();
  for (
    let attempt = 0;
    attempt < 100 && !lines.some((line) => line.path === '/json?q="x"&a[0]=\\');
    attempt++
  ) {
    await sleep(20);
    lines = accessLog();
  }
  const slow = lines.find((line) => line.path === '/slow');
  assert.equal(slow?.component, 'access');
  assert.equal(slow?.app, 'hello');
  assert.ok(slow?.machine === 'm1hello' || slow?.machine === 'm2hello', JSON.stringify(slow));
  assert.match(String(slow?.request_id), /-fra$/);
  assert.equal(slow?.msg, 'GET /slow 200');
  const odd = lines.find((line) => line.path === '/json?q="x"&a[0]=\\');
  // (The burst machines share m1world's address: any of them may have answered.)
  assert.match(
    String(odd?.machine),
    /^(m1world|burst\d+)$/,
    'a target with quotes and backslashes stays JSON',
  );
  assert.equal(typeof (odd?.timing as { total_ms?: number } | undefined)?.total_ms, 'number');
});

test('answers 404, 503 and 502 with short pages', async (t) => {
  const { store, proxy, port, startMachine } = await setup(t);
  await store.put(keys.app('hello'), appRecord('hello'));
  await store.put(keys.app('empty'), appRecord('empty'));
  await startMachine('hello', 'm1hello', 6);
  const destroyed = machineRecord('empty', 'm1empty', 1);
  await store.put(keys.machine('empty', 'm1empty'), {
    ...destroyed,
    desired: { state: 'destroyed', seq: 2 },
    destroyed_at: now(),
  });
  await store.put(keys.machineStatus(HOST, 'm1empty'), machineStatus(destroyed, 'started', '127.0.0.7'));
  // Reported started, but nothing listens there.
  await store.put(keys.app('dead'), appRecord('dead'));
  const dead = machineRecord('dead', 'm1dead', 1);
  await store.put(keys.machine('dead', 'm1dead'), dead);
  await store.put(keys.machineStatus(HOST, 'm1dead'), machineStatus(dead, 'started', '127.0.0.12'));
  await proxy.ready;
  await proxy.synced();

  const unknown = await get(port, 'nope.localhost');
  assert.equal(unknown.status, 404);
  assert.match(unknown.headers['content-type'] ?? '', /^text\/plain/);
  assert.match(unknown.body, /no app named 'nope' here; apps answer at <app>\.localhost/);
  const unknownHtml = await get(port, 'nope.localhost', '/', { accept: 'text/html' });
  assert.equal(unknownHtml.status, 404);
  assert.match(unknownHtml.headers['content-type'] ?? '', /^text\/html/);
  assert.match(unknownHtml.body, /<title>404 no such app<\/title>/);
  const elsewhere = await get(port, 'example.org');
  assert.equal(elsewhere.status, 404);
  assert.match(elsewhere.body, /no app answers at this host name/);
  const injected = await get(port, '<script>.localhost');
  assert.equal(injected.status, 404);
  assert.doesNotMatch(injected.body, /<script>/);

  const empty = await get(port, 'empty.localhost');
  assert.equal(empty.status, 503);
  assert.match(
    empty.body,
    /app 'empty' has no started machine that can answer; see `nearby status -a empty`/,
  );

  const refused = await get(port, 'dead.localhost');
  assert.equal(refused.status, 503);
  assert.match(refused.body, /app &#39;dead&#39; could not be reached/);

  const crash = await get(port, 'hello.localhost', '/crash');
  assert.equal(crash.status, 502);
  assert.match(crash.body, /app &#39;hello&#39; failed mid-request/);
});

test('reloads answer every request that arrives on a kept-alive connection to the old worker', async (t) => {
  const { store, proxy, port, api, startMachine } = await setup(t);
  await store.put(keys.app('hello'), appRecord('hello'));
  await startMachine('hello', 'm1hello', 6);
  await proxy.ready;
  await proxy.synced();
  // Clients on keep-alive connections, one request after another, while new apps force reloads.
  // The stopping worker counts no usable server anywhere: its `nbsrv` must not turn into a 503.
  const answers = new Map<string, number>();
  let running = true;
  const client = async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (running) {
      const answer = await new Promise<string>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: '/', headers: { host: 'hello.localhost' }, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(String(res.statusCode)));
          })
          .on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
    }
    agent.destroy();
  };
  const clients = Array.from({ length: 3 }, client);
  const before = await api.pid();
  for (let i = 0; i < 8; i++) {
    await store.put(keys.app(`reload${i}`), appRecord(`reload${i}`));
    await proxy.synced();
    await sleep(50);
  }
  running = false;
  await Promise.all(clients);
  assert.notEqual(await api.pid(), before, 'the new apps reloaded HAProxy');
  t.diagnostic(`answers across 8 reloads: ${JSON.stringify(Object.fromEntries(answers))}`);
  assert.ok((answers.get('200') ?? 0) > 100, 'requests were answered throughout');
  const statuses = [...answers.keys()].filter((answer) => /^\d+$/.test(answer));
  assert.deepEqual(statuses, ['200'], 'no answer but 200 while HAProxy reloaded');
});

test('restarts HAProxy killed with SIGKILL, and stop() leaves no HAProxy process', async (t) => {
  const { store, proxy, port, paths, startMachine } = await setup(t);
  await store.put(keys.app('hello'), appRecord('hello'));
  await startMachine('hello', 'm1hello', 8);
  await proxy.ready;
  const master = parseShowProc(await cliCommand(paths.masterSocket, 'show proc')).master;
  assert.ok(master);
  process.kill(master.pid, 'SIGKILL');
  // A machine appears while HAProxy is down: the restarted one must serve it too.
  await startMachine('hello', 'm2hello', 9);
  let answer: Answer | undefined;
  for (let attempt = 0; attempt < 400 && answer?.status !== 200; attempt++) {
    await sleep(25);
    answer = await get(port, 'hello.localhost').catch(() => undefined);
  }
  assert.equal(answer?.status, 200);
  await proxy.synced();
  const restarted = parseShowProc(await cliCommand(paths.masterSocket, 'show proc')).master;
  assert.notEqual(restarted?.pid, master.pid);
  const seen = await Promise.all(Array.from({ length: 8 }, () => get(port, 'hello.localhost', '/slow')));
  assert.equal(new Set(seen.map((one) => JSON.parse(one.body).machine)).size, 2);

  await proxy.stop();
  assert.deepEqual(haproxyProcesses(paths.config), []);
  await assert.rejects(get(port, 'hello.localhost'), { code: 'ECONNREFUSED' });
});

test('a stopping machine leaves rotation at once and finishes the request it serves', async (t) => {
  const { store, proxy, port, startMachine, slotted } = await setup(t);
  await store.put(keys.app('hello'), appRecord('hello'));
  const one = await startMachine('hello', 'm1hello', 10);
  await proxy.ready;
  await proxy.synced();
  const inFlight = get(port, 'hello.localhost', '/hold');
  while (one.server.held() === 0) await sleep(5);

  await startMachine('hello', 'm2hello', 11);
  await store.put(keys.machineStatus(HOST, 'm1hello'), machineStatus(one.record, 'stopped', one.address));
  await proxy.synced();
  assert.deepEqual(
    await slotted('app_hello'),
    [
      ['m1hello', 1],
      ['m2hello', 0],
    ],
    'm1 is in maintenance while its request runs',
  );
  assert.equal(JSON.parse((await get(port, 'hello.localhost')).body).machine, 'm2hello');

  one.server.release();
  const answer = await inFlight;
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).machine, 'm1hello');
  // Once its request is done, its slot's address is cleared: the slot may take another machine.
  for (let attempt = 0; attempt < 600; attempt++) {
    if ((await slotted('app_hello')).length === 1) break;
    await sleep(25);
  }
  assert.deepEqual(await slotted('app_hello'), [['m2hello', 0]], 'its slot freed once its requests are done');
});

test('ready rejects when the HTTP port is taken, and stop() ends the retries', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nearby-proxy-'));
  const store = new SqliteStore(join(dataDir, 'state.db'));
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const { port } = blocker.address() as AddressInfo;
  const proxy = startProxy({
    store,
    region: 'fra',
    dataDir,
    httpListen: `127.0.0.1:${port}`,
    tlsListen: `127.0.0.1:${await freePort()}`,
    log: pino({ level: 'silent' }),
  });
  t.after(async () => {
    await proxy.stop();
    blocker.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  await assert.rejects(proxy.ready, { code: 'HAPROXY_START_FAILED' });
  await proxy.stop();
  // No retry starts another HAProxy after stop(); the last one may take a moment to exit on a
  // loaded machine.
  for (let i = 0; haproxyProcesses(proxyPaths(dataDir).config).length > 0; i++) {
    assert.ok(
      i < 100,
      `HAProxy still running 10 s after stop(): ${haproxyProcesses(proxyPaths(dataDir).config)}`,
    );
    await sleep(100);
  }
  assert.throws(
    () =>
      startProxy({ store, region: 'fra', dataDir, httpListen: 'nowhere', log: pino({ level: 'silent' }) }),
    { code: 'PROXY_INVALID_OPTION' },
  );
});
