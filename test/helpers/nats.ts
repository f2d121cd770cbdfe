/**
 * A real three-node `nats-server` cluster with JetStream on loopback, for the store's tests and
 * benchmarks: configs in a temp dir, free ports, ready once JetStream has a meta leader. Nodes can
 * be killed (-9) and started again on the same ports and data; everything is removed after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { renderNatsServerConfig } from '../../src/store/nats/server-config.ts';
import { freePort } from './registry.ts';

interface TestContextLike {
  after(fn: () => unknown): void;
}

interface Node {
  name: string;
  clientPort: number;
  monitorPort: number;
  config: string;
  process: ChildProcess | undefined;
}

export interface NatsCluster {
  /** `nats://127.0.0.1:<port>` of every node. */
  urls: string[];
  /** Kills node `index` with SIGKILL (no goodbye to its peers or clients) and waits for it to exit. */
  kill(index: number): Promise<void>;
  /** Starts node `index` again (same ports, same JetStream data) and waits until it serves. */
  start(index: number): Promise<void>;
  /** Waits until the cluster has a JetStream meta leader (after a kill or a start). */
  ready(): Promise<void>;
  /** Index of the node listening on `url`. */
  indexOf(url: string): number;
  stop(): Promise<void>;
}

/**
 * Starts the cluster; `t.after` (or `stop()`) kills it and removes its files. `options.host` is the
 * address it listens on (loopback by default; a test bridge's address for hosts in namespaces);
 * with `token`, clients and routes must present it.
 */
export async function startNatsCluster(
  t?: TestContextLike,
  size = 3,
  options: { token?: string; host?: string } = {},
): Promise<NatsCluster> {
  // Free ports are free when picked, not always when the node binds them (tests run side by side):
  // a node that exits at start is tried again on other ports.
  for (let attempt = 1; ; attempt++) {
    try {
      const cluster = await startOnce(size, options);
      t?.after(cluster.stop);
      return cluster;
    } catch (error) {
      if (attempt >= 3 || !(error instanceof NodeExited)) throw error;
    }
  }
}

class NodeExited extends Error {}

async function startOnce(size: number, options: { token?: string; host?: string }): Promise<NatsCluster> {
  const host = options.host ?? '127.0.0.1';
  const dir = await mkdtemp(join(tmpdir(), 'nearby-nats-'));
  const nodes: Node[] = [];
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  for (let i = 0; i < size; i++) {
    const name = `n${i + 1}`;
    const node: Node = {
      name,
      clientPort: await freePort(),
      monitorPort: await freePort(),
      config: join(dir, `${name}.conf`),
      process: undefined,
    };
    // The configuration `nearby nats config` prints for users.
    await writeFile(
      node.config,
      renderNatsServerConfig({
        name,
        listen: `${host}:${node.clientPort}`,
        clusterListen: `${host}:${routePorts[i]}`,
        routes: routePorts.map((port) => `${host}:${port}`),
        storeDir: join(dir, name),
        clusterName: 'nearby-test',
        monitorListen: `127.0.0.1:${node.monitorPort}`,
        token: options.token,
        maxMemoryStore: '64MB',
        maxFileStore: '1GB',
      }),
    );
    nodes.push(node);
  }

  const start = async (index: number) => {
    const node = nodes[index];
    const child = spawn('nats-server', ['-c', node.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    node.process = child;
    const closed = new Promise((resolve) => child.stderr?.once('close', resolve));
    for (let attempt = 0; ; attempt++) {
      if (child.exitCode !== null) {
        await closed;
        throw new NodeExited(`nats-server ${node.name} exited: ${stderr}`);
      }
      if (await healthy(node.monitorPort)) return;
      if (attempt > 300) throw new Error(`nats-server ${node.name} did not start: ${stderr}`);
      await delay(50);
    }
  };
  const kill = async (index: number) => {
    const child = nodes[index].process;
    nodes[index].process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  const ready = async () => {
    for (let attempt = 0; ; attempt++) {
      if (await hasMetaLeader(nodes)) return;
      if (attempt > 600) throw new Error('the NATS cluster elected no JetStream meta leader within 30 s');
      await delay(50);
    }
  };
  const stop = async () => {
    await Promise.all(nodes.map((_, index) => kill(index)));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((_, index) => start(index)));
    await ready();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    urls: nodes.map(
      (node) => `nats://${options.token === undefined ? '' : `${options.token}@`}${host}:${node.clientPort}`,
    ),
    kill,
    start,
    ready,
    indexOf: (url) => nodes.findIndex((node) => url.endsWith(`:${node.clientPort}`)),
    stop,
  };
}

async function healthy(monitorPort: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${monitorPort}/varz`);
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

/** Every running node agrees on a meta leader, and the cluster has a quorum of peers. */
async function hasMetaLeader(nodes: Node[]): Promise<boolean> {
  const running = nodes.filter((node) => node.process);
  const leaders = new Set<string>();
  for (const node of running) {
    try {
      const response = await fetch(`http://127.0.0.1:${node.monitorPort}/jsz`);
      const jsz = (await response.json()) as { meta_cluster?: { leader?: string } };
      if (!jsz.meta_cluster?.leader) return false;
      leaders.add(jsz.meta_cluster.leader);
    } catch {
      return false;
    }
  }
  return leaders.size === 1;
}
