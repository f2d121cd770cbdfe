/**
 * A nearby cluster on one machine, for end-to-end tests: a three-node NATS cluster, one `nearby
 * api`, and hosts that each run `nearby node` in a network namespace of their own (a veth to a test
 * bridge, their own address, machine bridge, subnets and data dir), their proxies joined by the
 * backhaul (port 4443 of their address, one shared cluster credential). Everything it makes is
 * removed after: processes, namespaces, `nearby host clean` per data dir, the bridge, temp dirs.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { type NatsCluster, startNatsCluster } from './nats.ts';
import { type CliResult, nearbyBin } from './nearby.ts';
import { makeClusterCredential } from './proxy-cluster.ts';
import { freePort } from './registry.ts';

const run = promisify(execFile);

interface TestContextLike {
  after(fn: () => unknown): void;
}

/** One of a host's nearby processes, started again on demand on the same data dir. */
export interface HostProcess {
  /** SIGKILL (HAProxy and machines stay, as after a crash). */
  kill(): Promise<void>;
  /** Starts it again if it is not running, and waits until it serves. */
  start(): Promise<void>;
  /** The last 200,000 characters it printed. */
  output(): string;
  /** Calls `listener` with each whole line it prints from now on, across restarts. */
  onLine(listener: (line: string) => void): void;
}

export interface ClusterHost {
  name: string;
  region: string;
  /** Its address on the test bridge: where its proxy (port 8080) and other hosts reach it. */
  address: string;
  netns: string;
  dataDir: string;
  /** `http://<address>:8080` */
  proxyUrl: string;
  /** `<address>:4443`: where the other hosts' proxies reach this one. */
  backhaul: string;
  /** Its `nearby agent` (with `split`), else its `nearby node`. */
  agent: HostProcess;
  /** Its `nearby proxy` (with `split`), else its `nearby node`. */
  proxy: HostProcess;
  /** SIGKILL to its nearby processes (HAProxy and machines stay, as after a crash). */
  kill(): Promise<void>;
  /** Starts its nearby processes that are not running, on the same data dir. */
  start(): Promise<void>;
  /**
   * The whole host dies: SIGKILL to every process in its network namespace (nearby, HAProxy, the
   * machines' shims) and in its machines' namespaces (the machines). `start()` brings it back.
   */
  crash(): Promise<void>;
  /** Output of its nearby processes. */
  output(): string;
}

export interface RunningCluster {
  nats: NatsCluster;
  apiUrl: string;
  token: string;
  /** `host:port` of nearby's registry, as image references name it. */
  registry: string;
  hosts: ClusterHost[];
  api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  cli(args: string[]): Promise<CliResult>;
  apiOutput(): string;
}

export interface ClusterOptions {
  /** One host per entry: its region and more `nearby node` flags (`--memory 1024`…). */
  hosts: { region: string; args?: string[] }[];
  /**
   * Each host runs `nearby agent` and `nearby proxy` as two processes (sharing its data dir), so
   * either can be killed alone; else one `nearby node`. `args` go to the agent then.
   */
  split?: boolean;
}

/** A `/24` on a test bridge no other test uses. */
function freeNetwork(): number {
  for (;;) {
    const net = randomInt(16, 250);
    if (!existsSync(`/sys/class/net/nbc${net}`)) return net;
  }
}

async function ip(...args: string[]) {
  await run('ip', args);
}

export async function startCluster(t: TestContextLike, options: ClusterOptions): Promise<RunningCluster> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.reverse()) await step().catch(() => {});
  };
  t.after(cleanup);
  try {
    return await build(options, cleanups);
  } catch (error) {
    await cleanup();
    throw error;
  }
}

async function build(options: ClusterOptions, cleanups: (() => Promise<unknown>)[]): Promise<RunningCluster> {
  const net = freeNetwork();
  const bridge = `nbc${net}`;
  const gateway = `10.253.${net}.1`;
  const dir = await mkdtemp(join(tmpdir(), 'nearby-cluster-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await ip('link', 'add', bridge, 'type', 'bridge');
  cleanups.push(() => ip('link', 'delete', bridge));
  await ip('addr', 'add', `${gateway}/24`, 'dev', bridge);
  await ip('link', 'set', bridge, 'up');

  const nats = await startNatsCluster(undefined, 3, { host: gateway });
  cleanups.push(() => nats.stop());

  // The API, in this namespace, on the bridge's address: hosts reach it, its registry and NATS there.
  const apiPort = await freePort();
  const apiUrl = `http://${gateway}:${apiPort}`;
  const registry = `${gateway}:${await freePort()}`;
  const apiDir = join(dir, 'api');
  const apiProcess = supervised(
    nearbyBin,
    [
      'api',
      ...['--nats', nats.urls.join(','), '--data-dir', apiDir, '--host-name', 'api'],
      ...['--api-listen', `${gateway}:${apiPort}`, '--api-url', apiUrl],
      ...[
        '--registry-listen',
        registry,
        '--region',
        options.hosts[0]?.region ?? 'local',
        '--log-format',
        'json',
      ],
    ],
    dir,
  );
  cleanups.push(() => cleanDataDir(apiDir, []));
  cleanups.push(() => apiProcess.stop());
  await apiProcess.start(async () => (await fetch(`${apiUrl}/health`).catch(() => undefined))?.ok === true);
  const token = (await readFile(join(apiDir, 'admin-token'), 'utf8')).trim();
  // Hosts get a host token, as an operator gives them (`nearby tokens create host`), not the admin's.
  const made = await fetch(`${apiUrl}/v1/tokens/host`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'test hosts' }),
  });
  if (made.status !== 201)
    throw new Error(`POST /v1/tokens/host answered ${made.status}: ${await made.text()}`);
  const tokenFile = join(dir, 'host-token');
  await writeFile(tokenFile, `${((await made.json()) as { token: string }).token}\n`, { mode: 0o600 });

  // One credential for every proxy, as docs/proxy.md suggests; the last host is given its key apart.
  const credential = await makeClusterCredential();
  cleanups.push(async () => credential.close());

  const hosts: ClusterHost[] = [];
  for (const [index, { region, args = [] }] of options.hosts.entries()) {
    const name = `h${index + 1}-${region}`;
    const netns = `${bridge}-h${index + 1}`;
    const address = `10.253.${net}.${10 + index}`;
    const dataDir = join(dir, name);
    await ip('netns', 'add', netns);
    cleanups.push(() => ip('netns', 'delete', netns));
    const outside = `${bridge}h${index + 1}`;
    await ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ip('link', 'set', outside, 'master', bridge, 'up');
    await ip('-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    await ip('-n', netns, 'link', 'set', 'eth0', 'up');
    await ip('-n', netns, 'link', 'set', 'lo', 'up');
    // No default route: nothing leaves the test bridge. Other hosts' machine subnets fail fast
    // instead of wandering off (a proxy reaches them through their host's proxy, not directly).
    await ip('-n', netns, 'route', 'add', 'unreachable', '172.20.0.0/16');
    await ip('-n', netns, '-6', 'route', 'add', 'unreachable', 'fdaa:0:100::/48');
    // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup tree crun needs.
    const inNetns = ['nsenter', `--net=/run/netns/${netns}`, '--'];
    const backhaul = `${address}:4443`;
    const backhaulFlags = ['--backhaul-listen', backhaul, '--backhaul-ca', credential.caFile].concat(
      index === options.hosts.length - 1
        ? ['--backhaul-cert', credential.caFile, '--backhaul-key', credential.keyFile]
        : ['--backhaul-cert', credential.certFile],
    );
    const common = [
      ...['--nats', nats.urls.join(','), '--region', region, '--host-name', name],
      ...['--data-dir', dataDir, '--api-url', apiUrl, '--token-file', tokenFile, '--log-format', 'json'],
    ];
    const agentFlags = ['--address', address, '--bridge', `${bridge}m${index + 1}`];
    const proxyFlags = [
      ...['--proxy-listen', '0.0.0.0:8080', '--proxy-tls-listen', '0.0.0.0:8443'],
      ...['--metrics-listen', '127.0.0.1:9480', ...backhaulFlags],
    ];
    const inside = (args: string[]) => supervised(inNetns[0], [...inNetns.slice(1), nearbyBin, ...args], dir);
    cleanups.push(() => cleanDataDir(dataDir, inNetns));
    const proxyUrl = `http://${address}:8080`;
    const proxyAnswers = async () => (await fetch(`${proxyUrl}/`).catch(() => undefined)) !== undefined;
    const agentAnswers = () => listening(address, 4281);
    let parts: { process: Supervised; ready: () => Promise<boolean> }[];
    if (options.split) {
      const agent = inside(['agent', ...common, ...agentFlags, ...args]);
      const proxy = inside(['proxy', ...common, ...proxyFlags]);
      parts = [
        { process: agent, ready: agentAnswers },
        { process: proxy, ready: proxyAnswers },
      ];
    } else {
      const node = inside(['node', ...common, ...agentFlags, ...proxyFlags, ...args]);
      parts = [{ process: node, ready: async () => (await agentAnswers()) && (await proxyAnswers()) }];
    }
    for (const part of parts) cleanups.push(() => part.process.stop());
    for (const part of parts) await part.process.start(part.ready);
    const handle = ({ process, ready }: (typeof parts)[number]): HostProcess => ({
      kill: () => process.stop('SIGKILL'),
      start: () => (process.running() ? Promise.resolve() : process.start(ready)),
      output: process.output,
      onLine: process.onLine,
    });
    const [agent, proxy] = [handle(parts[0]), handle(parts[parts.length - 1])];
    const kill = async () => {
      for (const part of parts) await part.process.stop('SIGKILL');
    };
    hosts.push({
      name,
      region,
      address,
      netns,
      dataDir,
      proxyUrl,
      backhaul,
      agent,
      proxy,
      kill,
      start: async () => {
        for (const part of parts) if (!part.process.running()) await part.process.start(part.ready);
      },
      async crash() {
        await kill();
        // The machines' namespaces are named after the host's machine bridge (src/net/netns.ts).
        const machines = (await readdir('/run/netns').catch(() => [] as string[])).filter((ns) =>
          ns.startsWith(`${bridge}m${index + 1}-`),
        );
        await killEverythingIn([netns, ...machines]);
      },
      output: () => parts.map((part) => part.process.output()).join('\n'),
    });
  }

  const api = async <T>(method: string, path: string, body?: unknown) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const cli = (args: string[]) =>
    new Promise<CliResult>((resolve) => {
      execFile(
        nearbyBin,
        args,
        { cwd: dir, env: { ...process.env, NEARBY_API_URL: apiUrl, NEARBY_API_TOKEN: token } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  return { nats, apiUrl, token, registry, hosts, api, cli, apiOutput: apiProcess.output };
}

type Supervised = ReturnType<typeof supervised>;

/** A child process started and restarted on demand, its output kept for failure messages. */
function supervised(command: string, args: string[], cwd: string) {
  let child: ChildProcess | undefined;
  let output = '';
  const listeners: ((line: string) => void)[] = [];
  return {
    output: () => output,
    onLine: (listener: (line: string) => void) => {
      listeners.push(listener);
    },
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    async start(ready: () => Promise<boolean>) {
      const started = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const keeper = () => {
        let partial = '';
        return (chunk: Buffer) => {
          const text = chunk.toString();
          output = (output + text).slice(-200_000);
          if (listeners.length === 0) return;
          const lines = (partial + text).split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) for (const listener of listeners) listener(line);
        };
      };
      started.stdout?.on('data', keeper());
      started.stderr?.on('data', keeper());
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        if (started.exitCode !== null)
          throw new Error(`${args.join(' ')} exited with ${started.exitCode}:\n${output}`);
        if (await ready()) return;
        await delay(200);
      }
      throw new Error(`${args.join(' ')} was not ready within 90 s:\n${output}`);
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill(signal);
      const timer = setTimeout(() => running.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Whether something accepts TCP connections at `host:port`. */
function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    socket.setTimeout(2000);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

/** SIGKILL to every process in these network namespaces, until none is left. */
async function killEverythingIn(namespaces: string[]) {
  for (let round = 0; round < 50; round++) {
    const pids = new Set<number>();
    for (const ns of namespaces) {
      const { stdout } = await run('ip', ['netns', 'pids', ns]).catch(() => ({ stdout: '' }));
      for (const pid of stdout.split(/\s+/).filter(Boolean)) pids.add(Number(pid));
    }
    if (pids.size === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    await delay(100);
  }
  throw new Error(`processes in ${namespaces.join(', ')} outlived SIGKILL`);
}

/** `nearby host clean --purge` for a data dir, in the namespace its agent ran in. */
async function cleanDataDir(dataDir: string, prefix: string[]) {
  if (!existsSync(join(dataDir, 'server.json'))) return rm(dataDir, { recursive: true, force: true });
  const [command, ...rest] = [...prefix, nearbyBin, 'host', 'clean', '--data-dir', dataDir, '--purge'];
  // Said, not thrown: the other cleanups still run, and a leak is named in the test's output.
  await run(command, rest).catch((error: { stderr?: string; message?: string }) =>
    process.stderr.write(
      `cleanup: nearby host clean --data-dir ${dataDir} failed: ${error.stderr || error.message}\n`,
    ),
  );
  await rm(dataDir, { recursive: true, force: true });
}
