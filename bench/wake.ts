/**
 * `npm run bench -- wake`: time from a request's arrival at the edge proxy to its first response
 * byte when the app's one machine is (a) started — the reference, measured in the same run —
 * (b) suspended (cgroup freezer) and (c) stopped, 30 wakes each. Machines go to sleep the real
 * way: autostop finds them idle (a short threshold here) and suspends or stops them.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MachineView } from '../src/model/mod.ts';
import { proxyPaths, RuntimeApi } from '../src/proxy/mod.ts';
import { helloImage } from '../test/helpers/images.ts';
import { startNearby } from '../test/helpers/nearby.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = Number(process.env.WAKE_ROUNDS ?? 30);
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };

const round = (ms: number) => Math.round(ms * 10) / 10;

try {
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const nearby = await startNearby(hooks, {
    args: ['--autostop-interval', '100ms', '--autostop-idle', '300ms', '--wake-timeout', '10s'],
  });
  const runtimeApi = new RuntimeApi(proxyPaths(nearby.dataDir).adminSocket);
  const ok = (status: number, what: string) => {
    if (status >= 300) throw new Error(`${what} failed with ${status}`);
  };

  /** Milliseconds from sending a request (fresh connection) to its response's first byte. */
  const timeToFirstByte = (app: string) =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const request = http.get(
        {
          host: '127.0.0.1',
          port: nearby.proxyPort,
          path: '/',
          headers: { host: `${app}.localhost` },
          agent: false,
        },
        (response) => {
          const elapsed = performance.now() - started;
          response.resume();
          response.on('end', () =>
            response.statusCode === 200
              ? resolve(elapsed)
              : reject(new Error(`${app}: HTTP ${response.statusCode}`)),
          );
        },
      );
      request.on('error', reject);
    });

  async function app(name: string, autostop: 'off' | 'stop' | 'suspend'): Promise<string> {
    ok((await nearby.api('POST', '/v1/apps', { app_name: name })).status, `create app ${name}`);
    const config = {
      image,
      services: [
        {
          protocol: 'tcp',
          internal_port: 8080,
          ports: [{ port: 80, handlers: ['http'] }],
          autostop,
          autostart: true,
          min_machines_running: 0,
        },
      ],
    };
    const { body } = await nearby.api<MachineView>('POST', `/v1/apps/${name}/machines`, { config });
    ok(
      (await nearby.api('GET', `/v1/apps/${name}/machines/${body.id}/wait?state=started&timeout=60`)).status,
      'wait',
    );
    return body.id;
  }

  /** Waits until autostop has put the machine to sleep and HAProxy no longer routes to it. */
  async function asleep(name: string, id: string, state: 'stopped' | 'suspended') {
    for (;;) {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/${name}/machines/${id}`);
      const servers = await runtimeApi.servers();
      const routed = servers.some((server) => server.backend === `app_${name}` && server.name === id);
      if (body.state === state && !routed) return;
      await sleep(20);
    }
  }

  await app('warm', 'off');
  const frozen = await app('frozen', 'suspend');
  const cold = await app('cold', 'stop');
  await timeToFirstByte('warm'); // the first request of a connection-less HAProxy warms nothing else up

  const samples: Record<'started' | 'suspended' | 'stopped', number[]> = {
    started: [],
    suspended: [],
    stopped: [],
  };
  for (let i = 0; i < ROUNDS; i++) {
    samples.started.push(await timeToFirstByte('warm'));
    await asleep('frozen', frozen, 'suspended');
    samples.suspended.push(await timeToFirstByte('frozen'));
    await asleep('cold', cold, 'stopped');
    samples.stopped.push(await timeToFirstByte('cold'));
  }

  const started = stats(samples.started);
  console.log(`wake_rounds=${ROUNDS}`);
  console.log(`wake_started_p50_ms=${round(started.p50)}`);
  console.log(`wake_started_p95_ms=${round(started.p95)}`);
  for (const kind of ['suspended', 'stopped'] as const) {
    const measured = stats(samples[kind]);
    console.log(`wake_${kind}_p50_ms=${round(measured.p50)}`);
    console.log(`wake_${kind}_p95_ms=${round(measured.p95)}`);
    console.log(`wake_${kind}_over_started_p50_ms=${round(measured.p50 - started.p50)}`);
    console.log(`wake_${kind}_over_started_p95_ms=${round(measured.p95 - started.p95)}`);
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
