/**
 * `npm run bench -- microvm`: a microVM against a container, in one run, through the whole
 * platform (API → agent → driver → proxy) with the image already cached:
 *   - create → first HTTP answer, on the machine's own address and through the proxy;
 *   - stop → start → first answer, the same two ways (a cold start of an existing machine);
 *   - memory of an idle machine on the host: PSS of the container's process, or of its QEMU.
 * One machine each (a TCG boot costs seconds of a core). On hosts without a usable KVM (this one:
 * nested PVM) the microVM runs under TCG emulation: `microvm_accel` says which.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { microvmMissing, pickAccelerator } from '../src/agent/runtime/microvm/mod.ts';
import type { MachineView } from '../src/model/mod.ts';
import { helloImage } from '../test/helpers/images.ts';
import { type RunningNearby, startNearby } from '../test/helpers/nearby.ts';
import { startRegistry } from '../test/helpers/registry.ts';

const run = promisify(execFile);
const IDLE_MS = 5_000;
const cleanups: (() => unknown)[] = [];
const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };

/** Milliseconds from `since` until `url` answers 200 (with `host` as the Host header). */
async function firstAnswer(since: number, url: string, host?: string, deadlineMs = 180_000): Promise<number> {
  const deadline = Date.now() + deadlineMs;
  const hostHeader = host ? ['-H', `host: ${host}`] : [];
  while (Date.now() < deadline) {
    const ok = await run('curl', [
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '--max-time',
      '2',
      ...hostHeader,
      url,
    ]).then(
      (r) => r.stdout === '200',
      () => false,
    );
    if (ok) return performance.now() - since;
    await sleep(20);
  }
  throw new Error(`no answer from ${host ?? url} within ${deadlineMs} ms`);
}

async function pssBytes(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0) * 1024;
}

async function measure(nearby: RunningNearby, app: string, image: string) {
  const ok = (status: number, what: string) => {
    if (status >= 300) throw new Error(`${what} failed with ${status}`);
  };
  ok((await nearby.api('POST', '/v1/apps', { app_name: app })).status, 'create app');
  const config = {
    image,
    services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
  };
  const proxy = `http://127.0.0.1:${nearby.proxyPort}/`;
  const host = `${app}.localhost`;
  const machineUrl = async (id: string) => {
    for (;;) {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/${app}/machines/${id}`);
      if (body.private_ip) return `http://[${body.private_ip}]:8080/`;
      await sleep(20);
    }
  };
  const pidOf = async (id: string) =>
    Number((await readFile(join(nearby.dataDir, 'machines', id, 'container.pid'), 'utf8')).trim());
  // Warm once (pull, unpack, and for a microVM the image's ext4 disk), then measure a new machine.
  const warm = await nearby.api<MachineView>('POST', `/v1/apps/${app}/machines`, { config });
  await firstAnswer(performance.now(), proxy, host);
  ok((await nearby.api('DELETE', `/v1/apps/${app}/machines/${warm.body.id}?force=true`)).status, 'destroy');
  await sleep(2_000);

  // Boot: to the machine's own address (what the runtime costs), and through the proxy (what a
  // user waits, including the proxy learning of the new machine).
  let started = performance.now();
  const { body } = await nearby.api<MachineView>('POST', `/v1/apps/${app}/machines`, { config });
  const direct = await firstAnswer(started, await machineUrl(body.id));
  const viaProxy = await firstAnswer(started, proxy, host);

  await sleep(IDLE_MS);
  const pid = await pidOf(body.id);
  const memory = await pssBytes(pid);

  await nearby.api('POST', `/v1/apps/${app}/machines/${body.id}/stop`, {});
  ok(
    (await nearby.api('GET', `/v1/apps/${app}/machines/${body.id}/wait?state=stopped&timeout=60`)).status,
    'stop',
  );
  started = performance.now();
  await nearby.api('POST', `/v1/apps/${app}/machines/${body.id}/start`);
  const restartDirect = await firstAnswer(started, await machineUrl(body.id));
  const restart = await firstAnswer(started, proxy, host);
  if ((await pidOf(body.id)) === pid)
    throw new Error('stop/start kept the same process: nothing was measured');
  return { direct, viaProxy, restartDirect, restart, memory };
}

try {
  const missing = await microvmMissing();
  if (missing) throw new Error(`microVMs cannot run here: ${missing}`);
  const registry = await startRegistry(hooks);
  const image = await helloImage(registry.url);
  const line = (name: string, value: number) => console.log(`${name}=${value.toFixed(1)}`);

  const containers = await startNearby(hooks);
  const container = await measure(containers, 'bench-ctr', image);
  await containers.clean();
  const runtime = JSON.parse(
    await readFile(join(containers.dataDir, 'server.json'), 'utf8').catch(() => '{}'),
  );

  const vms = await startNearby(hooks, { args: ['--runtime', 'microvm'] });
  const vm = await measure(vms, 'bench-vm', image);
  await vms.clean();

  console.log(`microvm_accel=${pickAccelerator(process.env.NEARBY_MICROVM_ACCEL).accel}`);
  console.log(`container_runtime=${runtime.runtime ?? 'auto'}`);
  for (const [kind, m] of [
    ['container', container],
    ['microvm', vm],
  ] as const) {
    line(`${kind}_create_to_answer_direct_ms`, m.direct);
    line(`${kind}_create_to_answer_via_proxy_ms`, m.viaProxy);
    line(`${kind}_stop_start_to_answer_direct_ms`, m.restartDirect);
    line(`${kind}_stop_start_to_answer_via_proxy_ms`, m.restart);
    line(`${kind}_idle_pss_mib`, m.memory / 1024 / 1024);
  }
  line('microvm_over_container_boot_ratio', vm.direct / container.direct);
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
}
