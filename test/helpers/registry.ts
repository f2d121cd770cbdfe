/**
 * Starts a real CNCF distribution registry (Debian's `docker-registry`) on a free loopback port with
 * temp storage, for tests and benchmarks. `stop()` (or the test's end) kills it and removes the storage.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface RunningRegistry {
  /** `127.0.0.1:PORT`: use it as the registry part of references. */
  url: string;
  port: number;
  /** The registry's filesystem storage root (`docker/registry/v2/…` below it). */
  storageDir: string;
  stop(): Promise<void>;
}

interface TestContextLike {
  after(fn: () => unknown): void;
}

const REGISTRY_BINARY = '/usr/bin/docker-registry';

/**
 * A loopback port nobody listens on, below the kernel's ephemeral range (32768+): a port the
 * kernel handed out for listening can be taken again as the source port of an outgoing connection
 * (HAProxy's, a client's) before the test binds it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = randomInt(20_000, 32_000);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) {
      await new Promise((resolve) => server.close(resolve));
      return port;
    }
  }
}

export async function startRegistry(t?: TestContextLike): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-registry-'));
  let child: ChildProcess | undefined;
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, delay(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  t?.after(stop);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const config = join(dir, 'config.yml');
      await writeFile(
        config,
        [
          'version: 0.1',
          'log:',
          '  level: error',
          '  accesslog:',
          '    disabled: true',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${join(dir, 'storage')}`,
          '  delete:',
          '    enabled: true',
          'http:',
          `  addr: 127.0.0.1:${port}`,
          '',
        ].join('\n'),
      );
      let output = '';
      child = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (chunk) => (output += chunk));
      child.stderr?.on('data', (chunk) => (output += chunk));
      const url = `127.0.0.1:${port}`;
      if (await waitUntilAnswering(url, child)) return { url, port, storageDir: join(dir, 'storage'), stop };
      child.kill('SIGKILL');
      if (attempt === 2) throw new Error(`docker-registry did not start on ${url}: ${output.slice(-500)}`);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  throw new Error('unreachable');
}

async function waitUntilAnswering(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const response = await fetch(`http://${url}/v2/`);
      await response.body?.cancel();
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await delay(50);
  }
  return false;
}
