/**
 * Load for the fault tests: a steady load through the edge proxy (one request after another until
 * stopped, counting answers from the hello image and every failure with its reason), and a writer
 * of acknowledged API writes checked afterwards.
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
  /** Attempts tried again (with `retries`): each one counted, its reason in `failures` only if the last. */
  retried: number;
  /** When a request last failed or was tried again (ms since the epoch; 0: never). */
  lastTrouble: number;
  /** Answers seen per machine id (`hello from <id> in <region>`). */
  byMachine: Map<string, number>;
  stop(): Promise<void>;
}

/**
 * A steady load through a proxy at `url` (`http://10.253.7.10:8080`, or the app's name) for app
 * `host` header: one request after another (~50/s), on one kept-alive connection or a fresh
 * connection each, each with its own `x-request-id`. By default it never retries: a request that
 * gets no answer from the hello image counts as failed, with its reason. With `retries`, a client
 * as a browser or an SDK is: a failed request is sent again (the same id, after `retryDelayMs`)
 * up to that many times. Bounded: it stops by itself after `limitMs` if the test forgets to.
 */
export function proxyLoad(
  name: string,
  url: string,
  host: string,
  options: { keepAlive: boolean; limitMs?: number; retries?: number; retryDelayMs?: number },
): ProxyLoad {
  const target = new URL(url);
  const agent = new Agent({ keepAlive: options.keepAlive, maxSockets: 1 });
  const load: ProxyLoad = {
    name,
    ok: 0,
    failures: [],
    retried: 0,
    lastTrouble: 0,
    byMachine: new Map(),
    stop: async () => {},
  };
  let running = true;
  const started = Date.now();
  const limit = options.limitMs ?? 600_000;
  const at = () => `at +${Date.now() - started} ms`;
  let sent = 0;
  /** One attempt: the machine that answered, or why not. */
  const attempt = (id: string) =>
    new Promise<{ machine: string } | { failure: string }>((resolve) => {
      const req = request(
        {
          host: target.hostname,
          port: Number(target.port || 80),
          path: '/',
          headers: { host, 'x-request-id': id },
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
            if (res.statusCode === 200 && machine !== undefined) resolve({ machine });
            else resolve({ failure: `${res.statusCode} ${body.slice(0, 200)} (${at()})` });
          });
          res.on('error', (error) => resolve({ failure: `${error.message} (${at()})` }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer within 15s')));
      req.on('error', (error) => resolve({ failure: `${error.message} (${at()})` }));
      req.end();
    });
  const one = async () => {
    const id = `${name.replace(/\W+/g, '-')}-${++sent}`;
    for (let tries = 0; ; tries++) {
      const result = await attempt(id);
      if ('machine' in result) {
        load.ok++;
        load.byMachine.set(result.machine, (load.byMachine.get(result.machine) ?? 0) + 1);
        return;
      }
      load.lastTrouble = Date.now();
      if (tries >= (options.retries ?? 0) || !running) {
        load.failures.push(`${id}: ${result.failure}`);
        return;
      }
      load.retried++;
      await delay(options.retryDelayMs ?? 250);
    }
  };
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

/**
 * Acknowledged API writes: secrets of the app `ledger` (which must exist) and new apps, made one
 * after another (~10/s); `secrets` and `apps` hold those the API acknowledged, to be looked for
 * afterwards.
 */
export function startWriter(cluster: { apiUrl: string; token: string }) {
  const state = {
    secrets: [] as string[],
    apps: [] as string[],
    refused: 0,
    /** Why each write was refused, in order. */
    refusals: [] as string[],
    /** When the API last acknowledged a write (ms since the epoch). */
    lastAcknowledged: 0,
    stop: async () => {},
  };
  let running = true;
  const loop = (async () => {
    for (let n = 0; running && n < 5000; n++) {
      const app = n % 10 === 0 ? `ledger-${n}` : undefined;
      const [path, body] =
        app === undefined
          ? [`/v1/apps/ledger/secrets`, { values: { [`K${n}`]: `v${n}` } }]
          : ['/v1/apps', { app_name: app }];
      const { status, reason } = await fetch(`${cluster.apiUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${cluster.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(15_000),
      })
        .then(async (response) => ({
          status: response.status,
          reason: (await response.text()).slice(0, 200),
        }))
        .catch((error: Error) => ({ status: 0, reason: error.message }));
      if (status >= 200 && status < 300) {
        state.lastAcknowledged = Date.now();
        if (app === undefined) state.secrets.push(`K${n}`);
        else state.apps.push(app);
      } else {
        state.refused++;
        state.refusals.push(`POST ${path}: ${status} ${reason}`);
      }
      await delay(100);
    }
  })();
  state.stop = async () => {
    running = false;
    await loop;
  };
  return state;
}

/** The writes `startWriter` had acknowledged that the API does not have (none, when nothing was lost). */
export async function missingWrites(
  writer: ReturnType<typeof startWriter>,
  cluster: { apiUrl: string; token: string },
): Promise<string[]> {
  const read = async (path: string) => {
    const response = await fetch(`${cluster.apiUrl}${path}`, {
      headers: { authorization: `Bearer ${cluster.token}` },
    });
    if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response.text();
  };
  const ledger = await read('/v1/apps/ledger/secrets');
  const apps = await read('/v1/apps');
  return [
    ...writer.secrets.filter((name) => !ledger.includes(`"${name}"`)),
    ...writer.apps.filter((name) => !apps.includes(`"${name}"`)),
  ];
}
