/**
 * For the proxy's end-to-end tests: a real HAProxy driven by `startProxy` over a temporary store,
 * machines recorded as started at loopback addresses where the test runs its own upstreams.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import pino from 'pino';
import { freePort } from '../../test/helpers/registry.ts';
import { keys } from '../model/keys.ts';
import type { MachineConfig, MachineRecord, MachineService, MachineStatus } from '../model/mod.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { ProxyLimits } from './haproxy-config.ts';
import { proxyPaths, RuntimeApi, startProxy } from './mod.ts';

export { freePort };

export const TEST_HOST = 'host-1';
const now = () => new Date().toISOString();

/** HAProxy processes started from this configuration that are still alive. */
export function haproxyProcesses(configPath: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const state = readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]?.[0];
      if (cmdline.includes(configPath) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** An HTTP service on the shared ports (what `[http_service]` becomes). */
export function httpService(internalPort: number, extra: Partial<MachineService> = {}): MachineService {
  return {
    protocol: 'tcp',
    internal_port: internalPort,
    ports: [
      { port: 80, handlers: ['http'] },
      { port: 443, handlers: ['tls', 'http'] },
    ],
    ...extra,
  };
}

export interface TestProxyOptions {
  appsDomain?: string;
  limits?: Partial<ProxyLimits>;
  metricsListen?: string;
  fullSyncEveryMs?: number;
  meterIntervalMs?: number;
}

/** Starts a proxy on free loopback ports; everything is stopped and removed after the test. */
export async function startTestProxy(t: TestContext, options: TestProxyOptions = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'nearby-proxy-'));
  const store = new SqliteStore(join(dataDir, 'state.db'));
  const log = pino({ level: process.env.PROXY_TEST_LOG ? 'debug' : 'silent' });
  const httpPort = await freePort();
  const tlsPort = await freePort();
  const paths = proxyPaths(dataDir);
  const appsDomain = options.appsDomain ?? 'apps.test';
  const proxy = startProxy({
    store,
    region: 'fra',
    dataDir,
    appsDomain,
    httpListen: `127.0.0.1:${httpPort}`,
    tlsListen: `127.0.0.1:${tlsPort}`,
    limits: options.limits,
    metricsListen: options.metricsListen,
    fullSyncEveryMs: options.fullSyncEveryMs,
    meterIntervalMs: options.meterIntervalMs,
    log,
  });
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    await proxy.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
    await store.close();
    for (const pid of haproxyProcesses(paths.config)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function putApp(name: string) {
    await store.put(keys.app(name), {
      id: `id-${name}`,
      name,
      org_slug: 'personal',
      network: 'default',
      created_at: now(),
    });
  }

  /** Records a machine of `app` started at `address` with these services (and checks). */
  async function putMachine(
    app: string,
    id: string,
    address: string,
    config: Omit<MachineConfig, 'image'>,
    extra: Partial<MachineRecord> = {},
  ): Promise<MachineRecord> {
    const record: MachineRecord = {
      id,
      name: `${app}-${id}`,
      app,
      region: 'fra',
      host: TEST_HOST,
      instance_id: '01INSTANCE1',
      config: { image: 'registry.nearby.local/hello:latest', ...config },
      image_ref: {
        registry: 'registry.nearby.local',
        repository: 'hello',
        tag: 'latest',
        digest: 'sha256:00',
      },
      desired: { state: 'started', seq: 1 },
      events: [],
      created_at: now(),
      updated_at: now(),
      ...extra,
    };
    const status: MachineStatus = {
      id,
      app,
      instance_id: record.instance_id,
      state: 'started',
      seq: 1,
      ipv4: address,
      restarts: 0,
      events: [],
      updated_at: now(),
    };
    await store.put(keys.machine(app, id), record);
    await store.put(keys.machineStatus(TEST_HOST, id), status);
    return record;
  }

  return {
    store,
    proxy,
    paths,
    httpPort,
    tlsPort,
    appsDomain,
    api: new RuntimeApi(paths.adminSocket),
    putApp,
    putMachine,
    /** Runs `cleanup` after the test, before the store closes. */
    defer: (cleanup: () => unknown) => cleanups.push(cleanup),
  };
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to 127.0.0.1:`port` with this Host. */
export function request(
  port: number,
  host: string,
  path = '/',
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host, ...options.headers },
        agent: false,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body }),
        );
      },
    );
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

/** Sends raw bytes and collects everything until the proxy closes (or `waitMs` passes). */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 5000): Promise<string> {
  return new Promise((resolve) => {
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(received);
    }, waitMs);
    socket.on('data', (chunk) => (received += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received);
    });
  });
}

/** Answers a request itself (true) or leaves it to the echo (false). */
export type RequestHook = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** An HTTP upstream at `address:port` answering JSON `{ machine, method, url, headers, body }`. */
export async function echoUpstream(address: string, port: number, name: string, onRequest?: RequestHook) {
  const server = http.createServer((req, res) => {
    if (onRequest?.(req, res)) return;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({ machine: name, method: req.method, url: req.url, headers: req.headers, body }),
      );
    });
  });
  // Upgraded (WebSocket) sockets are not the server's connections any more: track them all.
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
