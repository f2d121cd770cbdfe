/**
 * Runs a real `nearby server` (bin/nearby, as users run it) for end-to-end tests: its own data dir,
 * free ports, and a bridge and subnets no other test uses. `stop()` stops it; `clean()` also removes
 * every machine, mount, namespace and the bridge (`nearby host clean --purge`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { startNatsCluster } from './nats.ts';
import { freePort } from './registry.ts';

export const repoRoot = resolve(import.meta.dirname, '..', '..');
export const nearbyBin = join(repoRoot, 'bin', 'nearby');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunningNearby {
  apiUrl: string;
  proxyPort: number;
  /** The proxy's TLS port (apps' port 443). */
  tlsPort: number;
  dataDir: string;
  token: string;
  region: string;
  /** `--host-name`: the agent's host and the proxy's name (`Via: 1.1 <hostName>`). */
  hostName: string;
  /** Environment that points the CLI at this server. */
  env: NodeJS.ProcessEnv;
  cli(args: string[], options?: { cwd?: string; timeoutMs?: number }): Promise<CliResult>;
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /**
   * Stops the server (SIGTERM, or SIGKILL with `hard`) and starts it again on the same data dir and
   * ports; with `bin`, that checkout's `bin/nearby` starts (an upgrade). `whileDown` runs between.
   */
  restart(options?: { hard?: boolean; bin?: string; whileDown?: () => Promise<void> }): Promise<void>;
  stop(): Promise<void>;
  clean(): Promise<void>;
  /** The server's stderr so far (JSON log lines), for failure messages. */
  output(): string;
}

interface TestContextLike {
  after(fn: () => unknown): void;
}

/** A bridge number no other running test server uses: two tests sharing `nbe<N>` would tear down each other's. */
function freeBridgeNumber(): number {
  for (;;) {
    const net = randomInt(16, 250);
    if (!existsSync(`/sys/class/net/nbe${net}`) && !claimedBridges.has(net)) {
      claimedBridges.add(net);
      return net;
    }
  }
}
const claimedBridges = new Set<number>();

export async function startNearby(
  t: TestContextLike,
  options: {
    region?: string;
    /** More `nearby server` flags. */
    args?: string[];
    /** The server's stdout and stderr go to this file instead of memory (a benchmark's access log). */
    logFile?: string;
    /** More environment for the server (e.g. `NEARBY_CLOCK_OFFSET_FILE`, billing's clock). */
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<RunningNearby> {
  // NEARBY_TEST_STORE=nats runs the suite on a NATS JetStream cluster instead of SQLite.
  const nats = process.env.NEARBY_TEST_STORE === 'nats' ? await startNatsCluster() : undefined;
  const dataDir = await mkdtemp(join(tmpdir(), 'nearby-e2e-'));
  const apiPort = await freePort();
  const proxyPort = await freePort();
  const tlsPort = await freePort();
  const net = freeBridgeNumber();
  const region = options.region ?? 'fra';
  const hostName = `test-${net}`;
  const args = [
    'server',
    '--data-dir',
    dataDir,
    '--api-listen',
    `127.0.0.1:${apiPort}`,
    '--proxy-listen',
    `127.0.0.1:${proxyPort}`,
    '--proxy-tls-listen',
    `127.0.0.1:${tlsPort}`,
    '--region',
    region,
    '--host-name',
    hostName,
    '--bridge',
    `nbe${net}`,
    '--machine-cidr',
    `10.${net}.0.0/24`,
    '--machine-cidr6',
    `fdaa:0:${net.toString(16)}::/64`,
    '--log-format',
    'json',
    // Each test server's registry child gets a port of its own (the default 5050 is shared).
    '--registry-listen',
    `127.0.0.1:${await freePort()}`,
    ...(nats ? ['--nats', nats.urls.join(',')] : []),
    ...(options.args ?? []),
  ];
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  let child: ChildProcess | undefined;
  let output = '';
  const currentOutput = () =>
    options.logFile === undefined ? output : readFileSync(options.logFile, 'utf8');

  const start = async (bin = nearbyBin) => {
    const logFd = options.logFile === undefined ? undefined : openSync(options.logFile, 'a');
    child = spawn(bin, args, {
      stdio: ['ignore', logFd ?? 'pipe', logFd ?? 'pipe'],
      env: { ...process.env, ...options.env },
    });
    if (logFd !== undefined) closeSync(logFd); // the child has its own copy
    child.stdout?.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null)
        throw new Error(`nearby server exited with ${child.exitCode}:\n${currentOutput()}`);
      const ok = await fetch(`${apiUrl}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await delay(100);
    }
    throw new Error(`nearby server did not answer within 60s:\n${currentOutput()}`);
  };

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    const timer = setTimeout(() => running.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  const token = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
  const env = { ...process.env, NEARBY_API_URL: apiUrl, NEARBY_API_TOKEN: token, NEARBY_DATA_DIR: dataDir };

  const cli = (cliArgs: string[], cliOptions: { cwd?: string; timeoutMs?: number } = {}) =>
    new Promise<CliResult>((resolvePromise) => {
      const process = spawn(nearbyBin, cliArgs, {
        cwd: cliOptions.cwd ?? dataDir,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      process.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      process.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => process.kill('SIGINT'), cliOptions.timeoutMs ?? 180_000);
      process.on('close', (code) => {
        clearTimeout(timer);
        resolvePromise({ code: code ?? 1, stdout, stderr });
      });
    });

  const api = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };

  let cleaned = false;
  const clean = async () => {
    if (cleaned) return;
    cleaned = true;
    await stop();
    const result = await new Promise<CliResult>((resolvePromise) => {
      const process = spawn(nearbyBin, ['host', 'clean', '--data-dir', dataDir, '--purge'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      process.stdout.on('data', (c) => {
        stdout += c;
      });
      process.stderr.on('data', (c) => {
        stderr += c;
      });
      process.on('close', (code) => resolvePromise({ code: code ?? 1, stdout, stderr }));
    });
    if (result.code !== 0) throw new Error(`nearby host clean failed: ${result.stderr}`);
  };
  t.after(async () => {
    await clean();
    await nats?.stop();
  });

  return {
    apiUrl,
    proxyPort,
    tlsPort,
    dataDir,
    token,
    region,
    hostName,
    env,
    cli,
    api,
    async restart(options = {}) {
      await stop(options.hard ? 'SIGKILL' : 'SIGTERM');
      await options.whileDown?.();
      await start(options.bin);
    },
    stop: () => stop(),
    clean,
    output: currentOutput,
  };
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await delay(200);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
