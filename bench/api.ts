/**
 * `npm run bench -- api`: what the Machines API costs per call against a real server, as p50/p95
 * in ms: a plain read (GET machine), the calls that go to the agent through the store and back
 * (exec, ps), and a restart waited for; the reference in the same run is `GET /health` (no auth,
 * no store), so the rest reads as what auth, the store and the agent add.
 */
import { FlyClient } from '../test/helpers/fly-client.ts';
import { helloImage } from '../test/helpers/images.ts';
import { startNearby } from '../test/helpers/nearby.ts';
import { startRegistry } from '../test/helpers/registry.ts';

const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };

async function measure(name: string, rounds: number, call: () => Promise<{ status: number }>) {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const { status } = await call();
    if (status >= 300) throw new Error(`${name} answered ${status}`);
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))].toFixed(1);
  console.log(`${name}_p50_ms=${at(0.5)} ${name}_p95_ms=${at(0.95)} rounds=${rounds}`);
}

try {
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const nearby = await startNearby(hooks);
  const fly = new FlyClient(nearby.apiUrl, nearby.token);
  await fly.createApp('bench-api');
  const machine = (await fly.createMachine('bench-api', { config: { image } })).body;
  await fly.waitMachine('bench-api', machine.id, { state: 'started', timeout: 60 });

  await measure('health', 200, () => fetch(`${nearby.apiUrl}/health`).then((r) => r.text().then(() => r)));
  await measure('get_machine', 200, () => fly.getMachine('bench-api', machine.id));
  await measure('exec', 30, () => fly.exec('bench-api', machine.id, { command: ['echo', 'x'] }));
  await measure('ps', 30, () => fly.ps('bench-api', machine.id));
  await measure('restart_waited', 10, async () => {
    await fly.restartMachine('bench-api', machine.id);
    return fly.waitMachine('bench-api', machine.id, { state: 'started', timeout: 60 });
  });
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
