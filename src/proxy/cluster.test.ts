/**
 * Routing across hosts, end to end: three proxies (three hosts in three regions, one shared store)
 * with real HAProxy, machines as loopback HTTP servers. The third host's backhaul sits behind a
 * relay that delays every chunk, so the proxies measure it farther away.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type tls from 'node:tls';
import { connect as connectTls } from 'node:tls';
import pino from 'pino';
import { makeClusterCredential, startDelayRelay } from '../../test/helpers/proxy-cluster.ts';
import { billingNow } from '../billing/clock.ts';
import { monthOf, type UsageRecord } from '../billing/meter.ts';
import type { ProxyRecord } from '../model/app.ts';
import { keys } from '../model/keys.ts';
import type { DemandRecord, DemandServed, MachineRecord, MachineStatus } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { edgeUsageKey } from './egress-meter.ts';
import { type EdgeProxy, proxyPaths, startProxy } from './mod.ts';
import { freePort, haproxyProcesses } from './test-proxy.ts';

const now = () => new Date().toISOString();
const timing = { heartbeatMs: 300, staleMs: 1500, rttWindow: 3 };

interface Host {
  name: string;
  region: string;
  address: string;
  httpPort: number;
  backhaulPort: number;
  proxy: EdgeProxy;
  dataDir: string;
}

/** A machine stand-in: says who it is and what it got; `/replay-to/<where>` answers Fly-Replay. */
async function machine(address: string, port: number, name: string) {
  const server = http.createServer((req, res) => {
    const replay = /^\/replay-to\/(.+)$/.exec(req.url ?? '');
    if (replay && req.headers['fly-replay-src'] === undefined) {
      res.writeHead(200, { 'fly-replay': decodeURIComponent(replay[1]) });
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ machine: name, headers: req.headers }));
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function machineRecord(app: string, id: string, host: Host, port: number): MachineRecord {
  return {
    id,
    name: `${app}-${id}`,
    app,
    region: host.region,
    host: host.name,
    instance_id: '01INSTANCE1',
    config: {
      image: 'registry.nearby.local/hello:latest',
      services: [{ protocol: 'tcp', internal_port: port, ports: [{ port: 80, handlers: ['http'] }] }],
    },
    image_ref: { registry: 'registry.nearby.local', repository: 'hello', tag: 'latest', digest: 'sha256:00' },
    desired: { state: 'started', seq: 1 },
    events: [],
    created_at: now(),
    updated_at: now(),
  };
}

function started(record: MachineRecord, ipv4: string): MachineStatus {
  return {
    id: record.id,
    app: record.app,
    instance_id: record.instance_id,
    state: 'started',
    seq: 1,
    ipv4,
    restarts: 0,
    events: [],
    updated_at: now(),
  };
}

/** A TCP machine stand-in on each port: answers its name, the PROXY v2 source it got (if any) and the data. */
async function tcpMachine(address: string, ports: number[], name: string) {
  const servers = ports.map(() =>
    createServer((socket) => {
      // The PROXY header and the client's bytes may come in separate chunks: answer once both are in.
      let buffer = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        let proxy = 'none';
        let data = buffer;
        if (
          buffer.length < PROXY_V2_SIGNATURE.length &&
          PROXY_V2_SIGNATURE.subarray(0, buffer.length).equals(buffer)
        )
          return;
        if (buffer.subarray(0, 12).equals(PROXY_V2_SIGNATURE)) {
          if (buffer.length < 16 || buffer.length < 16 + buffer.readUInt16BE(14)) return;
          const length = buffer.readUInt16BE(14);
          if (buffer[13] === 0x11) {
            const source = [...buffer.subarray(16, 20)].join('.');
            proxy = `${source}:${buffer.readUInt16BE(24)}`;
          }
          data = buffer.subarray(16 + length);
        }
        if (data.length === 0) return;
        socket.end(`machine=${name} proxy=${proxy} data=${data.toString()}`);
      });
      socket.on('error', () => {});
    }),
  );
  for (const [index, server] of servers.entries()) {
    await new Promise<void>((resolve) => server.listen(ports[index], address, resolve));
  }
  return {
    close: () =>
      Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))),
  };
}

const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** Sends `text` on a fresh connection and reads until the other side closes. */
function tcpExchange(
  host: string,
  port: number,
  text: string,
): Promise<{ reply: string; localPort: number }> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    let reply = '';
    let localPort = 0;
    socket.on('connect', () => {
      localPort = socket.localPort ?? 0;
      socket.write(text);
    });
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('error', () => {});
    socket.on('close', () => resolve({ reply, localPort }));
    socket.setTimeout(3000, () => socket.destroy());
  });
}

interface Answer {
  status: number;
  body: string;
  machine?: string;
  headers?: Record<string, string>;
}

function get(host: Host, path = '/', headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: host.address,
        port: host.httpPort,
        path,
        headers: { host: 'web.apps.test', ...headers },
        agent: false,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => {
          let parsed: { machine?: string; headers?: Record<string, string> } = {};
          try {
            parsed = JSON.parse(body);
          } catch {}
          resolve({ status: response.statusCode ?? 0, body, ...parsed });
        });
      },
    );
    request.on('error', reject);
    request.end();
  });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('requests reach machines on other hosts through their proxy, nearest region by measured RTT', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'nearby-cluster-'));
  const store = new SqliteStore(join(root, 'state.db'));
  const credential = await makeClusterCredential();
  const stranger = await makeClusterCredential('not the cluster');
  const log = pino({ level: process.env.PROXY_TEST_LOG ? 'debug' : 'silent' });
  const cleanups: (() => unknown)[] = [];
  const hosts = new Map<string, Host>();
  t.after(async () => {
    for (const host of hosts.values()) await host.proxy.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
    await store.close();
    for (const host of hosts.values()) {
      for (const pid of haproxyProcesses(proxyPaths(host.dataDir).config)) process.kill(pid, 'SIGKILL');
    }
    credential.close();
    stranger.close();
    rmSync(root, { recursive: true, force: true });
  });

  /** host-c's backhaul is reached through a relay adding 40 ms each way. */
  let relayAccepted = () => 0;
  async function startHost(name: string, region: string, address: string, delayMs = 0) {
    const dataDir = join(root, name);
    const httpPort = await freePort();
    const backhaulPort = await freePort();
    let advertise = `${address}:${backhaulPort}`;
    if (delayMs > 0) {
      const relayPort = await freePort();
      const relay = await startDelayRelay(address, relayPort, { host: address, port: backhaulPort }, delayMs);
      cleanups.push(() => relay.close());
      relayAccepted = relay.accepted;
      advertise = `${address}:${relayPort}`;
    }
    const proxy = startProxy({
      store,
      region,
      host: name,
      dataDir,
      appsDomain: 'apps.test',
      httpListen: `${address}:${httpPort}`,
      tlsListen: `${address}:${await freePort()}`,
      backhaul: { listen: `${address}:${backhaulPort}`, advertise, ...credential, timing },
      meterIntervalMs: 1000,
      log: log.child({ host: name }),
    });
    const host: Host = { name, region, address, httpPort, backhaulPort, proxy, dataDir };
    hosts.set(name, host);
    await proxy.ready;
    return host;
  }

  await store.put(keys.app('web'), {
    id: 'id-web',
    name: 'web',
    org_slug: 'personal',
    network: 'default',
    created_at: now(),
  });
  const a = await startHost('host-a', 'fra', '127.0.0.1');
  const b = await startHost('host-b', 'ams', '127.0.0.2');
  const c = await startHost('host-c', 'syd', '127.0.0.3', 40);
  // Every machine of an app serves on the same port (one config), each at its host's address.
  const machinePort = await freePort();
  for (const [host, id] of [
    [b, 'mb'],
    [c, 'mc'],
  ] as const) {
    const server = await machine(host.address, machinePort, id);
    cleanups.push(() => server.close());
    const record = machineRecord('web', id, host, machinePort);
    await store.put(keys.machine('web', id), record);
    await store.put(keys.machineStatus(host.name, id), started(record, host.address));
  }

  // host-a measures host-c farther than host-b (the relay), and publishes it.
  const measured = await until('host-a to measure both peers', async () => {
    const record = (await store.get<ProxyRecord>(keys.proxy('host-a')))?.value;
    const rtt = record?.rtt_ms ?? {};
    return rtt['host-b'] !== undefined && rtt['host-c'] !== undefined ? rtt : undefined;
  });
  assert.ok(measured['host-c'] > measured['host-b'], `host-c is farther: ${JSON.stringify(measured)}`);
  const record = (await store.get<ProxyRecord>(keys.proxy('host-b')))?.value;
  assert.equal(record?.backhaul, `127.0.0.2:${b.backhaulPort}`);
  assert.equal(record?.region, 'ams');

  await t.test(
    'a region without machines sends requests to the nearest one, and Via shows the hop',
    async () => {
      // Once the ranking is in, every request from fra goes to ams (host-b), none to syd.
      await until('fra to route to ams', async () => ((await get(a)).machine === 'mb' ? true : undefined));
      for (let i = 0; i < 10; i++) {
        // A client cannot claim hops to make the backhaul refuse its request.
        const answer = await get(a, '/', { 'x-forwarded-for': '203.0.113.9', 'x-nearby-hops': '7' });
        assert.equal(answer.status, 200, answer.body);
        assert.equal(answer.machine, 'mb');
        const headers = answer.headers ?? {};
        assert.match(headers.via ?? '', /1\.1 host-a.*1\.1 host-b/);
        assert.equal(headers['fly-region'], 'ams');
        // The client's address as the first proxy saw it, not host-a's.
        assert.equal(headers['fly-client-ip'], '127.0.0.1');
        assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
        assert.equal(headers['x-nearby-hops'], '1');
      }
      // A host with a machine of the app serves it itself.
      const local = await get(c);
      assert.equal(local.machine, 'mc');
      assert.doesNotMatch(local.headers?.via ?? '', /host-a|host-b/);
    },
  );

  await t.test(
    'egress is counted once: by the edge the user entered, not by the host that served',
    async () => {
      const month = monthOf(billingNow());
      const edge = async (host: Host) =>
        (await store.get<UsageRecord>(edgeUsageKey('personal', month, 'web', host.name)))?.value
          .egress_bytes ?? {};
      await sleep(2500); // the earlier tests' requests metered (two passes)
      const before = (await edge(a)).fra ?? 0;
      let received = 0;
      for (let i = 0; i < 5; i++) {
        const answer = await get(a);
        assert.equal(answer.machine, 'mb', 'served by host-b, over the backhaul');
        received += Buffer.byteLength(answer.body);
      }
      const counted = await until('host-a to meter the bytes', async () => {
        const sent = ((await edge(a)).fra ?? 0) - before;
        return sent >= received ? sent : undefined;
      });
      assert.ok(
        counted < received + 5 * 1024,
        `bodies and heads: ${counted} for ${received} bytes of bodies`,
      );
      await sleep(2500); // two more meter passes of host-b
      assert.deepEqual(await edge(b), {}, 'host-b only relayed them: it counts nothing');
    },
  );

  /** What a proxy last published of the app's demand, by serving region. */
  const demand = async (host: Host) =>
    (await store.get<DemandRecord>(keys.demand('web', host.name)))?.value.served ?? {};
  let amsLatency: DemandServed | undefined;

  await t.test(
    'latency is measured by the edge the user entered, per serving region; the host that only relayed has none',
    async () => {
      amsLatency = await until('host-a to publish the latency of fra → ams', async () => {
        for (let i = 0; i < 5; i++) assert.equal((await get(a)).machine, 'mb');
        const served = (await demand(a)).ams;
        return served?.p95_ms !== undefined ? served : undefined;
      });
      const { p50_ms: p50, p95_ms: p95 } = amsLatency;
      assert.ok(p50 !== undefined && p95 !== undefined && p50 > 0 && p50 <= p95, JSON.stringify(amsLatency));
      // host-b served what host-a sent it: counted as requests there, but the latency is host-a's.
      const relayed = await until('host-b to count the requests it relayed', async () => {
        const served = (await demand(b)).ams;
        return (served?.requests ?? 0) > 0 ? served : undefined;
      });
      assert.equal(relayed?.p50_ms, undefined, JSON.stringify(relayed));
    },
  );

  await t.test('Fly-Replay and fly-* headers reach machines on other hosts', async () => {
    const replayed = await get(a, '/replay-to/region=syd');
    assert.equal(replayed.status, 200, replayed.body);
    assert.equal(replayed.machine, 'mc');
    const byInstance = await get(a, `/replay-to/${encodeURIComponent('instance=mc')}`);
    assert.equal(byInstance.machine, 'mc');
    const forced = await get(a, '/', { 'fly-force-instance-id': 'mc' });
    assert.equal(forced.status, 200, forced.body);
    assert.equal(forced.machine, 'mc');
    assert.equal((await get(a, '/', { 'fly-prefer-region': 'syd' })).machine, 'mc');
    assert.equal((await get(a, '/', { 'fly-force-region': 'syd' })).machine, 'mc');
    assert.equal((await get(b, '/', { 'fly-force-region': 'syd' })).machine, 'mc');
    const nowhere = await get(a, '/', { 'fly-force-region': 'gru' });
    assert.equal(nowhere.status, 503);
  });

  await t.test('the backhaul refuses requests without the cluster credential', async () => {
    const attempt = (options: https.RequestOptions) =>
      new Promise<string>((resolve) => {
        const request = https.request(
          {
            host: b.address,
            port: b.backhaulPort,
            path: '/',
            headers: { host: 'web.apps.test' },
            rejectUnauthorized: false,
            agent: false,
            ...options,
          },
          (response) => {
            response.resume();
            resolve(`status ${response.statusCode}`);
          },
        );
        request.on('error', (error) => resolve(`refused: ${error.message}`));
        request.end();
      });
    assert.match(await attempt({}), /^refused/);
    const foreign = readFileSync(stranger.certFile, 'utf8');
    assert.match(await attempt({ cert: foreign, key: foreign }), /^refused/);
    const plain = await new Promise<string>((resolve) => {
      const request = http.request(
        {
          host: b.address,
          port: b.backhaulPort,
          path: '/',
          headers: { host: 'web.apps.test' },
          agent: false,
        },
        (response) => resolve(`status ${response.statusCode}`),
      );
      request.on('error', (error) => resolve(`refused: ${error.message}`));
      request.end();
    });
    assert.doesNotMatch(plain, /status 200/);
    // With the credential it serves this host's machine, and refuses a request going round in circles.
    const own = readFileSync(credential.certFile, 'utf8');
    assert.equal(await attempt({ cert: own, key: own }), 'status 200');
    const looping = { cert: own, key: own, headers: { host: 'web.apps.test', 'x-nearby-hops': '3' } };
    assert.equal(await attempt(looping), 'status 508');
  });

  await t.test(
    'dedicated ports reach machines on other hosts: raw TCP, PROXY protocol and HTTP',
    async () => {
      // An app with three dedicated ports and one machine, on host-b only.
      const [rawPort, ppPort, httpPort] = [await freePort(), await freePort(), await freePort()];
      const inner = { raw: await freePort(), pp: await freePort(), http: await freePort() };
      const tcp = await tcpMachine(b.address, [inner.raw, inner.pp], 'mdb');
      cleanups.push(() => tcp.close());
      const web = await machine(b.address, inner.http, 'mdb');
      cleanups.push(() => web.close());
      await store.put(keys.app('db'), {
        id: 'id-db',
        name: 'db',
        org_slug: 'personal',
        network: 'default',
        created_at: now(),
      });
      const record: MachineRecord = {
        ...machineRecord('db', 'mdb', b, inner.http),
        config: {
          image: 'registry.nearby.local/hello:latest',
          services: [
            { protocol: 'tcp', internal_port: inner.raw, ports: [{ port: rawPort }] },
            {
              protocol: 'tcp',
              internal_port: inner.pp,
              ports: [{ port: ppPort, handlers: ['proxy_proto'], proxy_proto_options: { version: 'v2' } }],
            },
            { protocol: 'tcp', internal_port: inner.http, ports: [{ port: httpPort, handlers: ['http'] }] },
          ],
        },
      };
      await store.put(keys.machine('db', 'mdb'), record);
      await store.put(keys.machineStatus(b.name, 'mdb'), started(record, b.address));

      // Through host-a, which has no machine of the app: host-b's proxy answers on its backhaul.
      const raw = await until('raw TCP through host-a', async () => {
        const answer = await tcpExchange(a.address, rawPort, 'hello');
        return answer.reply.startsWith('machine=mdb') ? answer : undefined;
      });
      assert.equal(raw.reply, 'machine=mdb proxy=none data=hello');
      // The PROXY header the machine gets names the client as host-a saw it, not a proxy.
      const pp = await until('PROXY protocol through host-a', async () => {
        const answer = await tcpExchange(a.address, ppPort, 'hi');
        return answer.reply.startsWith('machine=mdb') ? answer : undefined;
      });
      assert.equal(pp.reply, `machine=mdb proxy=127.0.0.1:${pp.localPort} data=hi`);
      let last: unknown;
      const viaHttp = await until('a dedicated HTTP port through host-a', async () => {
        const answer = await get({ ...a, httpPort }, '/', { host: 'anything.example' }).catch((error) => {
          last = String(error);
          return undefined;
        });
        last = answer ?? last;
        return answer?.machine === 'mdb' ? answer : undefined;
      }).catch((error) => assert.fail(`${error.message}: ${JSON.stringify(last)}`));
      assert.match(viaHttp.headers?.via ?? '', /1\.1 host-a.*1\.1 host-b/);
      assert.equal(viaHttp.headers?.['x-nearby-route'], undefined, 'the app never sees the routing header');
      // A client cannot pick a backend by sending the header itself.
      const forged = await get({ ...a, httpPort }, '/', { 'x-nearby-route': 'app_web_80_http' });
      assert.equal(forged.machine, 'mdb');

      // Only nearby's proxies may use the TCP backhaul.
      const tls = (options: tls.ConnectionOptions) =>
        new Promise<string>((resolve) => {
          const socket = connectTls({
            host: b.address,
            port: b.backhaulPort + 1,
            rejectUnauthorized: false,
            ...options,
          });
          let data = '';
          socket.on('secureConnect', () => socket.write('hello'));
          socket.on('data', (chunk) => (data += chunk));
          socket.on('error', (error) => resolve(`refused: ${error.message}`));
          socket.on('close', () => resolve(data === '' ? 'closed' : `answered: ${data}`));
        });
      assert.doesNotMatch(await tls({}), /answered/);
      const own = readFileSync(credential.certFile, 'utf8');
      assert.doesNotMatch(
        await tls({ cert: own, key: own }),
        /answered/,
        'and only with a PROXY header naming a backend',
      );
    },
  );

  await t.test("a dead host's machines stop taking requests within seconds", async () => {
    await b.proxy.stop();
    hosts.delete(b.name);
    for (const pid of haproxyProcesses(proxyPaths(b.dataDir).config)) process.kill(pid, 'SIGKILL');
    // host-b's machine is still "started" in the store; its proxy's record goes stale.
    await until('fra to route to syd', async () => ((await get(a)).machine === 'mc' ? true : undefined));
    for (let i = 0; i < 5; i++) assert.equal((await get(a)).machine, 'mc');
    hosts.set(b.name, b);
  });

  await t.test(
    'far requests share warm backhaul connections: a new client connection opens none',
    async () => {
      assert.equal((await get(a)).machine, 'mc');
      const before = relayAccepted();
      // Each request on a client connection of its own, as the first request of every visitor is.
      for (let i = 0; i < 10; i++) assert.equal((await get(a)).machine, 'mc');
      // With `http-reuse safe` each took a backhaul connection of its own (TCP, TLS, then the
      // request: three round trips); host-a's RTT probe may open one more on its own.
      const opened = relayAccepted() - before;
      assert.ok(opened <= 1, `${opened} backhaul connections for 10 requests`);
    },
  );

  await t.test("a far route's latency: fra → syd through the delayed backhaul", async () => {
    const syd = await until('host-a to publish the latency of fra → syd', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await get(a)).machine, 'mc');
      const served = (await demand(a)).syd;
      return served?.p95_ms !== undefined ? served : undefined;
    });
    // The relay holds each chunk 40 ms each way: at least 80 ms, in the 70–100 ms bucket or above.
    assert.ok((syd.p50_ms ?? 0) >= 70, JSON.stringify(syd));
    assert.ok((amsLatency?.p50_ms ?? Infinity) < (syd.p50_ms ?? 0), JSON.stringify({ ams: amsLatency, syd }));
  });
});
