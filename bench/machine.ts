/**
 * `npm run bench -- machine`: how fast machines start, through the whole platform (API → store →
 * agent → runtime → status → API), with the image already cached:
 *   - create → started, 20 machines;
 *   - stop → start of one machine, 20 times;
 * and, as the reference measured in the same run, the OCI runtime alone running `true` in the
 * same image (what nearby adds on top of it is the difference).
 */
import type { MachineView } from '../src/model/mod.ts';
import { helloImage } from '../test/helpers/images.ts';
import { startNearby } from '../test/helpers/nearby.ts';
import { startRegistry } from '../test/helpers/registry.ts';
import { bareRuntimeRuns } from './lib/bare-runtime.ts';
import { stats } from './lib/stats.ts';

const ROUNDS = 20;
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };

try {
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const nearby = await startNearby(hooks);
  const ok = (status: number, what: string) => {
    if (status >= 300) throw new Error(`${what} failed with ${status}`);
  };
  ok((await nearby.api('POST', '/v1/apps', { app_name: 'bench' })).status, 'create app');
  const config = {
    image,
    services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
  };

  // Warm the image cache once: pulls are measured by `npm run bench -- pull`.
  const warm = await nearby.api<MachineView>('POST', '/v1/apps/bench/machines', { config });
  await nearby.api('GET', `/v1/apps/bench/machines/${warm.body.id}/wait?state=started&timeout=60`);

  const create: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    const { body } = await nearby.api<MachineView>('POST', '/v1/apps/bench/machines', { config });
    const wait = await nearby.api('GET', `/v1/apps/bench/machines/${body.id}/wait?state=started&timeout=60`);
    ok(wait.status, 'wait started');
    create.push(performance.now() - started);
    // One at a time: twenty machines at once would book more CPU than a 2-core host has.
    await nearby.api('DELETE', `/v1/apps/bench/machines/${body.id}?force=true`);
  }

  const restart: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    await nearby.api('POST', `/v1/apps/bench/machines/${warm.body.id}/stop`, {});
    ok(
      (await nearby.api('GET', `/v1/apps/bench/machines/${warm.body.id}/wait?state=stopped&timeout=60`))
        .status,
      'stop',
    );
    const started = performance.now();
    await nearby.api('POST', `/v1/apps/bench/machines/${warm.body.id}/start`);
    ok(
      (await nearby.api('GET', `/v1/apps/bench/machines/${warm.body.id}/wait?state=started&timeout=60`))
        .status,
      'start',
    );
    restart.push(performance.now() - started);
  }

  // Reference: the runtime alone, `crun run` (or runc) of `true` in the cached image's rootfs.
  const ref = await bareRuntimeRuns(nearby.dataDir, ROUNDS);

  const c = stats(create);
  const r = stats(restart);
  const line = (name: string, value: number) => console.log(`${name}=${value.toFixed(1)}`);
  line('machine_create_to_started_p50_ms', c.p50);
  line('machine_create_to_started_p95_ms', c.p95);
  line('machine_stop_start_p50_ms', r.p50);
  line('machine_stop_start_p95_ms', r.p95);
  line(`runtime_${ref.bin}_run_true_p50_ms`, ref.p50);
  line('machine_start_ratio_vs_runtime', r.p50 / ref.p50);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
