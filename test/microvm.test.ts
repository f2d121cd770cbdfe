/**
 * MicroVMs end to end: a real `nearby server --runtime microvm` boots the hello image as a QEMU
 * microvm guest (TCG here), the edge proxy reaches it, exec and logs work, a restart of the server
 * adopts the running VM, suspend pauses it, and stop/start boots it again. On a container host, a
 * machine whose config asks for `runtime: microvm` is a VM beside a container of the same app.
 * Skips where QEMU or the guest kernel is missing (scripts/test.sh installs both).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { defaultAssetsDir, microvmMissing } from '../src/agent/runtime/microvm/mod.ts';
import { qmp } from '../src/agent/runtime/microvm/qemu.ts';
import type { MachineView } from '../src/model/mod.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

const run = promisify(execFile);
const missing = await microvmMissing();
/** A boot under TCG takes seconds; on a busy 2-core host, give it a minute and a half. */
const BOOT_TIMEOUT_MS = 90_000;

async function get(url: string): Promise<string | undefined> {
  const { stdout } = await run('curl', ['-s', '--max-time', '5', '-w', '\n%{http_code}', url]);
  const cut = stdout.lastIndexOf('\n');
  return stdout.slice(cut + 1) === '200' ? stdout.slice(0, cut) : undefined;
}

async function processExists(pid: number): Promise<boolean> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').then(
    (text) => text.includes('qemu'),
    () => false,
  );
}

describe('microVM runtime', {
  concurrency: false,
  skip: missing && `microVMs cannot run here: ${missing}`,
}, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let workdir: string;
  let appUrl: string;
  let id: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    nearby = await startNearby(hooks, { args: ['--runtime', 'microvm'] });
    workdir = await mkdtemp(join(tmpdir(), 'nearby-microvm-'));
    cleanups.push(() => rm(workdir, { recursive: true, force: true }));
    appUrl = `http://hello.localhost:${nearby.proxyPort}/`;
    const launch = await nearby.cli(['launch', '--image', image, '--name', 'hello'], { cwd: workdir });
    assert.equal(launch.code, 0, launch.stderr);
  });

  test('deploy boots the image as a microVM and the proxy reaches it', async () => {
    const deploy = await nearby.cli(['deploy', '--no-ha'], { cwd: workdir });
    assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}\n${nearby.output().slice(-3000)}`);
    const { body } = await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines');
    assert.equal(body.length, 1);
    id = body[0]?.id ?? '';
    const answer = await eventually(() => get(appUrl), BOOT_TIMEOUT_MS, 'the microVM to answer');
    assert.equal(answer.trim(), `hello from ${id} in fra`);
    // The proxy reaches the guest by IPv4; its IPv6 address (private_ip) answers too.
    const machine = body[0] as MachineView;
    const six = await eventually(
      () => get(`http://[${machine.private_ip}]:8080/`),
      30_000,
      'an answer over IPv6',
    );
    assert.equal(six.trim(), `hello from ${id} in fra`);
  });

  test('exec runs inside the guest kernel, not the host one', async () => {
    const release = (await readFile(join(defaultAssetsDir(), 'release'), 'utf8')).trim();
    const exec = await nearby.cli(['machine', 'exec', id, '-a', 'hello', '--', 'uname', '-r'], {
      cwd: workdir,
    });
    assert.equal(exec.code, 0, exec.stderr);
    assert.equal(exec.stdout.trim(), release);
    const host = (await run('uname', ['-r'])).stdout.trim();
    assert.notEqual(release, host, 'the guest runs its own kernel');
    const env = await nearby.cli(
      ['machine', 'exec', id, '-a', 'hello', '--', 'sh', '-c', 'echo $FLY_MACHINE_ID; exit 3'],
      {
        cwd: workdir,
      },
    );
    assert.match(env.stdout, new RegExp(id));
    assert.equal(env.code, 3, 'the exit code comes back');
  });

  test('logs carry the app output and say which accelerator runs the VM', async () => {
    const logs = await eventually(async () => {
      const result = await nearby.cli(['logs', '-a', 'hello', '--no-tail'], { cwd: workdir });
      return /hello: GET \/ 200/.test(result.stdout) ? result.stdout : undefined;
    });
    assert.match(logs, /hello: listening on :8080/);
    assert.match(logs, /booting microVM \(QEMU microvm, (TCG|KVM): .+\)/);
  });

  test('a restarted server adopts the running VM', async () => {
    const prior = await nearby.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
    const pidFile = join(nearby.dataDir, 'machines', id, 'container.pid');
    const qemuPid = Number(await readFile(pidFile, 'utf8'));
    await nearby.restart();
    const answer = await eventually(() => get(appUrl), 30_000, 'the adopted microVM to answer');
    assert.equal(answer.trim(), `hello from ${id} in fra`);
    const status = await nearby.cli(['machine', 'status', id, '-a', 'hello'], { cwd: workdir });
    assert.match(status.stdout, /started/);
    assert.equal(prior.body.state, 'started');
    assert.equal(Number(await readFile(pidFile, 'utf8')), qemuPid, 'the same QEMU, not a new boot');
    assert.equal(await processExists(qemuPid), true);
  });

  test('suspend pauses the VM (QMP stop), start resumes it', async () => {
    const qmpSocket = join(nearby.dataDir, 'machines', id, 'qmp.sock');
    const suspend = await nearby.cli(['machine', 'suspend', id, '-a', 'hello'], { cwd: workdir });
    assert.equal(suspend.code, 0, suspend.stderr);
    await eventually(async () => {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
      return body.state === 'suspended' ? true : undefined;
    });
    assert.deepEqual(await qmp(qmpSocket, 'query-status'), {
      status: 'paused',
      singlestep: false,
      running: false,
    });
    const start = await nearby.cli(['machine', 'start', id, '-a', 'hello'], { cwd: workdir });
    assert.equal(start.code, 0, start.stderr);
    assert.equal(((await qmp(qmpSocket, 'query-status')) as { running: boolean }).running, true);
    const answer = await eventually(() => get(appUrl), 30_000, 'the resumed microVM to answer');
    assert.equal(answer.trim(), `hello from ${id} in fra`);
  });

  test('stop ends the guest through its init, start boots it again', async () => {
    const stop = await nearby.cli(['machine', 'stop', id, '-a', 'hello'], { cwd: workdir });
    assert.equal(stop.code, 0, stop.stderr);
    const stopped = await eventually(async () => {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
      return body.state === 'stopped' ? body : undefined;
    });
    assert.equal(stopped.state, 'stopped');
    const logs = await nearby.cli(['logs', '-a', 'hello', '--no-tail'], { cwd: workdir });
    assert.match(logs.stdout, /SIGTERM, bye/, 'the entrypoint got the stop signal inside the guest');
    const pidText = await readFile(join(nearby.dataDir, 'machines', id, 'container.pid'), 'utf8').catch(
      () => '',
    );
    if (pidText) assert.equal(await processExists(Number(pidText)), false, 'QEMU is gone');

    const start = await nearby.cli(['machine', 'start', id, '-a', 'hello'], { cwd: workdir });
    assert.equal(start.code, 0, start.stderr);
    const answer = await eventually(() => get(appUrl), BOOT_TIMEOUT_MS, 'the microVM to answer again');
    assert.equal(answer.trim(), `hello from ${id} in fra`);
  });
});

describe('microVM per machine on a container host', {
  concurrency: false,
  skip: missing && `microVMs cannot run here: ${missing}`,
}, () => {
  let nearby: RunningNearby;
  let workdir: string;
  let appUrl: string;
  let containerId: string;
  let vmId: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    const registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    // No --runtime: containers by default, microVMs for machines whose config asks.
    nearby = await startNearby(hooks);
    workdir = await mkdtemp(join(tmpdir(), 'nearby-microvm-mixed-'));
    cleanups.push(() => rm(workdir, { recursive: true, force: true }));
    appUrl = `http://mixed.localhost:${nearby.proxyPort}/`;
    const launch = await nearby.cli(['launch', '--image', image, '--name', 'mixed'], { cwd: workdir });
    assert.equal(launch.code, 0, launch.stderr);
    const deploy = await nearby.cli(['deploy', '--no-ha'], { cwd: workdir });
    assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
  });

  /** Ids of the machines that answered through the proxy, asking until every wanted one did. */
  async function answering(ids: string[], timeoutMs: number): Promise<void> {
    const seen = new Set<string>();
    await eventually(
      async () => {
        const answer = (await get(appUrl))?.trim().match(/^hello from (\S+) in fra$/);
        if (answer?.[1]) seen.add(answer[1]);
        return ids.every((id) => seen.has(id)) ? true : undefined;
      },
      timeoutMs,
      `machines ${ids.join(', ')} to answer through the proxy (seen: ${[...seen].join(', ')})`,
    );
  }

  async function release(id: string): Promise<string> {
    const exec = await nearby.cli(['machine', 'exec', id, '-a', 'mixed', '--', 'uname', '-r'], {
      cwd: workdir,
    });
    assert.equal(exec.code, 0, exec.stderr);
    return exec.stdout.trim();
  }

  test('a machine asking for runtime microvm boots as a VM beside a container of the same app', async () => {
    const { body } = await nearby.api<MachineView[]>('GET', '/v1/apps/mixed/machines');
    assert.equal(body.length, 1);
    const container = body[0] as MachineView;
    containerId = container.id;
    const bad = await nearby.api<{ code: string; error: string }>('POST', '/v1/apps/mixed/machines', {
      config: { ...container.config, runtime: 'firecracker' },
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.match(
      bad.body.error,
      /config\.runtime: must be equal to one of the allowed values \(container, microvm\)/,
    );
    const created = await nearby.api<MachineView>('POST', '/v1/apps/mixed/machines', {
      config: { ...container.config, runtime: 'microvm' },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    vmId = created.body.id;
    assert.equal(created.body.config.runtime, 'microvm');
    await answering([containerId, vmId], BOOT_TIMEOUT_MS);

    const guest = (await readFile(join(defaultAssetsDir(), 'release'), 'utf8')).trim();
    const host = (await run('uname', ['-r'])).stdout.trim();
    assert.equal(await release(vmId), guest, 'the VM runs the guest kernel');
    assert.equal(await release(containerId), host, 'the container runs on the host kernel');
    assert.ok(
      await processExists(
        Number(await readFile(join(nearby.dataDir, 'machines', vmId, 'container.pid'), 'utf8')),
      ),
    );
  });

  test("the VM is on its org's private network: its org's container reaches it, another org's does not", async () => {
    const settings = JSON.parse(await readFile(join(nearby.dataDir, 'server.json'), 'utf8'));
    const { body: vm } = await nearby.api<MachineView>('GET', `/v1/apps/mixed/machines/${vmId}`);
    const { body: container } = await nearby.api<MachineView>(
      'GET',
      `/v1/apps/mixed/machines/${containerId}`,
    );
    assert.equal(
      (await nearby.api('POST', '/v1/apps', { app_name: 'stranger', org_slug: 'acme' })).status,
      201,
    );
    const { body: stranger } = await nearby.api<MachineView>('POST', '/v1/apps/stranger/machines', {
      config: { ...container.config, runtime: 'container' },
    });
    await nearby.api('GET', `/v1/apps/stranger/machines/${stranger.id}/wait?state=started&timeout=60`);
    const from = async (machine: string, host: string) => {
      const target = host.includes(':') ? `[${host}]` : host;
      const args = ['netns', 'exec', `${settings.bridge}-${machine}`, 'curl', '-s', '--max-time', '5'];
      return run('ip', [...args, `http://${target}:8080/`]).then(
        ({ stdout }) => stdout.trim(),
        () => undefined,
      );
    };
    for (const host of [vm.nearby.ipv4 ?? '', vm.private_ip]) {
      assert.equal(await from(containerId, host), `hello from ${vmId} in fra`, `same org to ${host}`);
      assert.equal(await from(stranger.id, host), undefined, `another org to ${host}`);
    }
  });

  test('a restarted server adopts both the VM and the container', async () => {
    const pidFile = join(nearby.dataDir, 'machines', vmId, 'container.pid');
    const qemuPid = Number(await readFile(pidFile, 'utf8'));
    await nearby.restart();
    await answering([containerId, vmId], 30_000);
    for (const id of [containerId, vmId]) {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/mixed/machines/${id}`);
      assert.equal(body.state, 'started');
    }
    assert.equal(Number(await readFile(pidFile, 'utf8')), qemuPid, 'the same QEMU, not a new boot');
    assert.equal(await processExists(qemuPid), true);
    assert.equal(await release(vmId), (await readFile(join(defaultAssetsDir(), 'release'), 'utf8')).trim());
  });
});
