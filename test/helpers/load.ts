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
