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
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
  /** SIGKILL to its `nearby node` (HAProxy and machines stay, as after a crash). */
  kill(): Promise<void>;
  /** Starts its `nearby node` again on the same data dir. */
  start(): Promise<void>;
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
    const node = supervised(
      inNetns[0],
      [
        ...inNetns.slice(1),
        nearbyBin,
        'node',
        ...['--nats', nats.urls.join(','), '--region', region, '--host-name', name, '--address', address],
        ...['--data-dir', dataDir, '--api-url', apiUrl, '--token-file', tokenFile],
        ...[
          '--bridge',
          `${bridge}m${index + 1}`,
          '--proxy-listen',
          '0.0.0.0:8080',
          '--proxy-tls-listen',
          '0.0.0.0:8443',
        ],
        ...['--metrics-listen', '127.0.0.1:9480', '--log-format', 'json', ...backhaulFlags, ...args],
      ],
      dir,
    );
    cleanups.push(() => cleanDataDir(dataDir, inNetns));
    cleanups.push(() => node.stop());
    const proxyUrl = `http://${address}:8080`;
    const answers = async () => (await fetch(`${proxyUrl}/`).catch(() => undefined)) !== undefined;
    await node.start(answers);
    hosts.push({
      name,
      region,
      address,
      netns,
      dataDir,
      proxyUrl,
      backhaul,
      kill: () => node.stop('SIGKILL'),
      start: () => node.start(answers),
      output: node.output,
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

/** A child process started and restarted on demand, its output kept for failure messages. */
function supervised(command: string, args: string[], cwd: string) {
  let child: ChildProcess | undefined;
  let output = '';
  return {
    output: () => output,
    async start(ready: () => Promise<boolean>) {
      const started = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-200_000);
      };
      started.stdout?.on('data', keep);
      started.stderr?.on('data', keep);
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
