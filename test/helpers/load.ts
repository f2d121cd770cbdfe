/**
 * A steady load through the edge proxy: one request after another on a keep-alive connection
 * (~80/s) until stopped, counting answers from the hello image and every failure with its reason.
 */
import { Agent, request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

export interface Load {
  ok: number;
  failures: string[];
  stop(): Promise<void>;
}

export function steadyLoad(port: number, host: string): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const load = { ok: 0, failures: [] as string[], stop: async () => {} };
  let running = true;
  const started = Date.now();
  const at = () => `at +${Date.now() - started} ms`;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(
        { host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 10_000 },
        (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => {
            if (res.statusCode === 200 && body.startsWith('hello from')) load.ok++;
            else load.failures.push(`${res.statusCode} ${body.slice(0, 200)} (${at()})`);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 10s')));
      req.on('error', (error) => {
        load.failures.push(`${error.message} (${at()})`);
        resolve();
      });
      req.end();
    });
  const loop = (async () => {
    while (running) {
      await one();
      await delay(10);
    }
  })();
  load.stop = async () => {
    running = false;
    await loop;
    agent.destroy();
  };
  return load;
}

export interface ProxyLoad {
  /** What it is (`h1 keep-alive`), for the figures. */
  name: string;
  ok: number;
  failures: string[];
  /** Answers seen per machine id (`hello from <id> in <region>`). */
  byMachine: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * A steady load through a proxy at `url` (`http://10.253.7.10:8080`) for app `host` header: one
 * request after another (~50/s), on one kept-alive connection or a fresh connection each. It never
 * retries: a request that gets no answer from the hello image counts as failed, with its reason.
 * Bounded: it stops by itself after `limitMs` if the test forgets to.
 */
export function proxyLoad(
  name: string,
  url: string,
  host: string,
  options: { keepAlive: boolean; limitMs?: number },
): ProxyLoad {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: options.keepAlive, maxSockets: 1 });
  const load: ProxyLoad = { name, ok: 0, failures: [], byMachine: new Map(), stop: async () => {} };
  let running = true;
  const started = Date.now();
  const limit = options.limitMs ?? 600_000;
  const at = () => `at +${Date.now() - started} ms`;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(
        {
          host: target.hostname,
          port: Number(target.port),
          path: '/',
          headers: { host },
          agent,
          timeout: 15_000,
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => {
            body += chunk;
          });
          res.on('end', () => {
            const machine = /^hello from (\S+) in /.exec(body)?.[1];
            if (res.statusCode === 200 && machine !== undefined) {
              load.ok++;
              load.byMachine.set(machine, (load.byMachine.get(machine) ?? 0) + 1);
            } else load.failures.push(`${res.statusCode} ${body.slice(0, 200)} (${at()})`);
            resolve();
          });
          res.on('error', (error) => {
            load.failures.push(`${error.message} (${at()})`);
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 15s')));
      req.on('error', (error) => {
        load.failures.push(`${error.message} (${at()})`);
        resolve();
      });
      req.end();
    });
  const loop = (async () => {
    while (running && Date.now() - started < limit) {
      await one();
      await delay(20);
    }
  })();
  load.stop = async () => {
    running = false;
    await loop;
    agent.destroy();
  };
  return load;
}
