import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createHostNetwork } from '../../net/mod.ts';
import type { HostNetwork } from '../../net/types.ts';
import { runCommand } from '../../run-command.ts';
import { makeBusyboxRootfs } from './busybox-rootfs.ts';
import { cgroupLayout, existingCgroupDirs, readLimits } from './cgroups.ts';
import { createRuntime, type OciRuntimeDriver } from './mod.ts';
import { isMounted, overlayPaths } from './overlay.ts';
import type { SandboxSpec } from './types.ts';

const DOCKER_DEFAULT_CAPS = '00000000a80425fb';
const tag = randomBytes(2).toString('hex');
const root = process.getuid?.() === 0;

describe('crun runtime driver', { skip: root ? false : 'needs root' }, () => {
  let work: string;
  let imageRootfs: string;
  let network: HostNetwork;
  let runtime: OciRuntimeDriver;
  const used: string[] = [];
  const machines = new Set<string>();

  before(async () => {
    const prep = await runCommand(join(import.meta.dirname, '../../../scripts/host-prep.sh'), []);
    assert.equal(prep.code, 0, prep.stderr);
    work = await mkdtemp(join(tmpdir(), 'nearby-crun-'));
    imageRootfs = await makeBusyboxRootfs(join(work, 'image'));
    network = createHostNetwork({
      bridge: `nbt${tag}`,
      ipv4Cidr: `10.${randomInt(100, 250)}.${randomInt(0, 250)}.0/24`,
      ipv6Cidr: `fdbc:${tag}:${randomInt(1, 0xffff).toString(16)}::/64`,
      netnsPrefix: `nbt${tag}-`,
    });
    await network.ensure();
    runtime = await createRuntime({ stateDir: join(work, 'state'), rootDiskGb: 1 });
  });

  after(async () => {
    for (const id of machines) {
      await runtime?.destroy(id).catch(() => {});
      await network?.detach(id).catch(() => {});
    }
    await network?.teardown();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Attaches a network, prepares and starts a sandbox running `args`. */
  async function launch(
    name: string,
    args: string[],
    extra: Partial<SandboxSpec> = {},
    driver: OciRuntimeDriver = runtime,
  ) {
    const id = `t${tag}-${name}`;
    machines.add(id);
    const addresses = network.allocate(used);
    used.push(addresses.ipv4);
    const attachment = await network.attach(id, addresses, 'personal');
    await driver.prepare({
      id,
      imageRootfs,
      dir: join(work, 'machines', id),
      process: {
        args,
        env: ['PATH=/bin', `FLY_MACHINE_ID=${id}`, 'FLY_REGION=tst'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
      },
      hostname: id,
      resources: { cpus: 0.5, memoryMb: 64, pids: 64, cpuKind: 'performance' },
      netnsPath: attachment.netnsPath,
      files: [{ path: '/etc/motd', content: `machine ${id}\n` }],
      ...extra,
    });
    const { pid } = await driver.start(id);
    return { id, pid, ...attachment };
  }

  async function waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined>,
    timeoutMs = 10_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const value = await probe().catch(() => undefined);
      if (value !== undefined && value !== false) return value;
      await sleep(25);
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const logOf = (id: string) => readFile(runtime.logPath(id), 'utf8').catch(() => '');
  const getJson = async (url: string) => (await fetch(url)).json() as Promise<Record<string, unknown>>;

  it('runs hello isolated, reachable on both addresses, limited, and keeps it across suspend/resume', async () => {
    const m = await launch('hello', ['/hello']);
    assert.equal(runtime.name, 'crun');
    await waitFor('hello to listen', async () => (await logOf(m.id)).includes('hello: listening on :8080'));
    const log = await logOf(m.id);
    assert.match(
      log,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout F hello: listening on :8080 uid=0 machine=/m,
    );

    const first = await getJson(`http://${m.ipv4}:8080/json`);
    assert.equal(first.machine_id, m.id);
    assert.equal(first.hostname, m.id);
    assert.equal(first.pid, 1);
    const viaIpv6 = await (await fetch(`http://[${m.ipv6}]:8080/`)).text();
    assert.equal(viaIpv6, `hello from ${m.id} in tst\n`);

    // Own namespaces: each differs from the host's.
    for (const ns of ['pid', 'net', 'uts', 'mnt', 'ipc']) {
      assert.notEqual(readlinkSync(`/proc/${m.pid}/ns/${ns}`), readlinkSync(`/proc/self/ns/${ns}`), ns);
    }
    const status = readFileSync(`/proc/${m.pid}/status`, 'utf8');
    assert.match(status, new RegExp(`^CapEff:\\s+${DOCKER_DEFAULT_CAPS}$`, 'm'));
    assert.match(status, new RegExp(`^CapBnd:\\s+${DOCKER_DEFAULT_CAPS}$`, 'm'));
    assert.match(status, /^CapAmb:\s+0000000000000000$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    assert.match(status, /^Seccomp:\s+2$/m); // filtered by the default profile
    const inside = await runtime.exec(m.id, ['cat', '/proc/self/status', '/etc/motd']);
    assert.equal(inside.exitCode, 0, inside.stderr);
    assert.match(inside.stdout, new RegExp(`^CapEff:\\s+${DOCKER_DEFAULT_CAPS}$`, 'm'));
    assert.match(inside.stdout, /^NoNewPrivs:\s+1$/m);
    assert.match(inside.stdout, new RegExp(`machine ${m.id}`));
    // Seccomp, like Docker's default: no new user namespace even though that needs no capability.
    const unshare = await runtime.exec(m.id, ['busybox', 'unshare', '-U', 'true']);
    assert.notEqual(unshare.exitCode, 0);
    assert.match(unshare.stderr, /Operation not permitted/);

    const limits = await readLimits(m.id);
    assert.equal(limits.memoryBytes, 64 * 1024 * 1024);
    assert.equal(limits.pids, 64);
    assert.equal(limits.cpuQuotaUsec, 50_000);
    if (cgroupLayout() === 'v1') assert.equal(limits.cpuWeight, 512, 'performance: 1024 shares per CPU');
    else assert.ok((limits.cpuWeight ?? 0) > 0);
    const stats = await runtime.stats(m.id);
    assert.ok(stats.memoryBytes > 0 && stats.pids >= 1);

    await runtime.suspend(m.id);
    assert.equal((await runtime.inspect(m.id)).state, 'paused');
    await runtime.resume(m.id);
    const later = await getJson(`http://${m.ipv4}:8080/json`);
    assert.equal(later.pid, first.pid);
    assert.equal(later.counter, (first.counter as number) + 2);

    // A second driver on the same state dir (nearby restarted) sees and stops the sandbox.
    const restarted = await createRuntime({ stateDir: join(work, 'state') });
    assert.deepEqual(await restarted.inspect(m.id), { state: 'running', pid: m.pid });
    assert.ok((await restarted.list()).includes(m.id));
    const exit = await restarted.stop(m.id, { timeoutMs: 5000 });
    assert.equal(exit?.exitCode, 0);
    assert.equal(exit?.signal, undefined);
    assert.equal((await runtime.inspect(m.id)).state, 'stopped');
    assert.match(await logOf(m.id), /stdout F hello: SIGTERM, bye$/m);
  });

  it('runs root as its own range of host ids, shows no host path, and caps the root disk', async () => {
    const a = await launch('userns-a', ['sleep', '1000']);
    const b = await launch('userns-b', ['sleep', '1000']);
    const mapOf = async (id: string) => {
      const result = await runtime.exec(id, ['cat', '/proc/self/uid_map', '/proc/self/gid_map']);
      assert.equal(result.exitCode, 0, result.stderr);
      return result.stdout.trim().split(/\s+/).map(Number);
    };
    const [inside, hostA, count] = await mapOf(a.id);
    assert.deepEqual([inside, count], [0, 65536]);
    assert.ok(hostA >= 2 ** 30, `host id ${hostA} is above the host's users`);
    const [, hostB] = await mapOf(b.id);
    assert.ok(Math.abs(hostB - hostA) >= 65536, 'two machines never share an id');
    assert.match(readFileSync(`/proc/${a.pid}/status`, 'utf8'), new RegExp(`^Uid:\\s+${hostA}\\s`, 'm'));

    // The image's files and the files nearby writes belong to root inside; root may change them.
    const owned = await runtime.exec(a.id, [
      'sh',
      '-c',
      'stat -c %u:%g / /bin/busybox /etc/motd && echo x >> /etc/motd',
    ]);
    assert.equal(owned.exitCode, 0, owned.stderr);
    assert.equal(owned.stdout, '0:0\n0:0\n0:0\n');

    const mountinfo = (await runtime.exec(a.id, ['cat', '/proc/self/mountinfo'])).stdout;
    assert.equal(mountinfo.includes(work), false, `no host path inside:\n${mountinfo}`);
    assert.equal(mountinfo.includes('/var/lib/nearby'), false);

    // The root disk is an ext4 of NEARBY_ROOT_DISK_GB (1 here): writing more fails with ENOSPC.
    const fill = await runtime.exec(
      a.id,
      ['sh', '-c', 'dd if=/dev/zero of=/big bs=1M count=1200 2>&1; df -m /'],
      {
        timeoutMs: 60_000,
      },
    );
    assert.match(fill.stdout, /No space left on device/);
    await runtime.exec(a.id, ['rm', '/big']);

    // A restart keeps the range (its root disk's files are owned by it).
    await runtime.stop(a.id, { signal: 'SIGKILL', timeoutMs: 1000 });
    await runtime.start(a.id);
    assert.equal((await mapOf(a.id))[1], hostA);
    await runtime.stop(a.id, { signal: 'SIGKILL', timeoutMs: 1000 });
    await runtime.stop(b.id, { signal: 'SIGKILL', timeoutMs: 1000 });
  });

  it('reports exit codes, and SIGKILL when SIGTERM is ignored past the timeout', async () => {
    const seven = await launch('exit7', ['sh', '-c', 'echo bye >&2; exit 7']);
    const info = await waitFor('exit', async () => {
      const i = await runtime.inspect(seven.id);
      return i.state === 'stopped' && i.exit ? i : undefined;
    });
    assert.equal(info.exit?.exitCode, 7);
    assert.equal(info.exit?.oomKilled, false);
    assert.match(await logOf(seven.id), / stderr F bye$/m);

    // PID 1 without a SIGTERM handler ignores SIGTERM: stop must fall back to SIGKILL.
    const stubborn = await launch('stubborn', ['sleep', '1000']);
    const killed = await runtime.stop(stubborn.id, { timeoutMs: 300 });
    assert.equal(killed?.exitCode, 137);
    assert.equal(killed?.signal, 'SIGKILL');

    // A restart after a stop runs again with the same root.
    const again = await runtime.start(stubborn.id);
    assert.equal((await runtime.inspect(stubborn.id)).state, 'running');
    assert.ok(again.pid > 0);
    await runtime.stop(stubborn.id, { signal: 'SIGKILL', timeoutMs: 1000 });
  });

  it('switches user with hello --user, and splits long lines as partial records', async () => {
    const m = await launch('user', ['/hello', '--user', 'app']);
    const json = await waitFor('hello as app', () => getJson(`http://${m.ipv4}:8080/json`));
    assert.equal(json.uid, 1000);
    assert.equal(json.gid, 1000);

    const long = await launch('long', ['sh', '-c', "head -c 20000 /dev/zero | tr '\\0' a; echo"]);
    await waitFor('exit', async () => (await runtime.inspect(long.id)).exit);
    const records = (await logOf(long.id)).trimEnd().split('\n');
    assert.equal(records.length, 2);
    assert.match(records[0], / stdout P a{16384}$/);
    assert.match(records[1], / stdout F a{3616}$/);
  });

  it('gives a process with init.tty a terminal and logs what it writes there', async () => {
    const script = 'if test -t 1; then echo "terminal: yes"; else echo "terminal: no"; fi';
    const plain = await launch('notty', ['sh', '-c', script]);
    await waitFor('exit without a tty', async () => (await runtime.inspect(plain.id)).exit);
    assert.match(await logOf(plain.id), / stdout F terminal: no$/m);
    const withTty = await launch('tty', ['sh', '-c', script], {
      process: {
        args: ['sh', '-c', script],
        env: ['PATH=/bin'],
        cwd: '/',
        tty: true,
        user: { uid: 0, gid: 0, additionalGids: [] },
      },
    });
    const exit = await waitFor('exit with a tty', async () => (await runtime.inspect(withTty.id)).exit);
    assert.equal(exit.exitCode, 0);
    await waitFor('the terminal line in the log', async () =>
      /stdout F terminal: yes\r?$/m.test(await logOf(withTty.id)) ? true : undefined,
    );
  });

  it('reports a command that cannot start, and an OOM kill', async () => {
    await assert.rejects(launch('missing', ['/no/such/program']), { code: 'SANDBOX_START_FAILED' });
    const hog = await launch('oom', ['sh', '-c', 'x=a; while true; do x="$x$x"; done'], {
      resources: { cpus: 1, memoryMb: 16, pids: 16 },
    });
    const info = await waitFor('OOM kill', async () => (await runtime.inspect(hog.id)).exit, 30_000);
    assert.equal(info.oomKilled, true);
    assert.equal(info.signal, 'SIGKILL');
  });

  it("keeps the machine's writes across stop/start, never in the image, and drops them with a new image", async () => {
    const args = ['sh', '-c', 'echo run >> /runs; cat /etc/motd /runs'];
    const m = await launch('persist', args);
    const exited = async () => (await runtime.inspect(m.id)).exit;
    const runs = async () =>
      (await logOf(m.id)).split('\n').filter((line) => line.endsWith(' stdout F run')).length;
    await waitFor('first run', exited);
    await runtime.start(m.id);
    await waitFor('second run', async () => (await exited()) && (await runs()) === 3);
    assert.equal(existsSync(join(imageRootfs, 'runs')), false);

    const newImage = await makeBusyboxRootfs(join(work, 'image2'));
    await runtime.prepare({
      id: m.id,
      imageRootfs: newImage,
      dir: join(work, 'machines', m.id),
      process: { args, env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] } },
      hostname: m.id,
      resources: { cpus: 1, memoryMb: 64, pids: 64 },
      netnsPath: m.netnsPath,
      files: [{ path: '/etc/motd', content: 'new image\n', mode: 0o600 }],
    });
    await runtime.start(m.id);
    await waitFor('run on the new image', async () => (await exited()) && (await runs()) === 4);
    assert.match(await logOf(m.id), /stdout F new image$/m);
  });

  it('keeps a sandbox running after the nearby process that started it exits', async () => {
    const id = `t${tag}-orphan`;
    machines.add(id);
    const addresses = network.allocate(used);
    used.push(addresses.ipv4);
    const { netnsPath } = await network.attach(id, addresses, 'personal');
    const spec: SandboxSpec = {
      id,
      imageRootfs,
      dir: join(work, 'machines', id),
      process: {
        args: ['/hello'],
        env: [`FLY_MACHINE_ID=${id}`],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
      },
      hostname: id,
      resources: { cpus: 1, memoryMb: 64, pids: 64 },
      netnsPath,
      files: [],
    };
    const script = `
      const { createRuntime } = await import(${JSON.stringify(join(import.meta.dirname, 'mod.ts'))});
      const runtime = await createRuntime({ stateDir: ${JSON.stringify(join(work, 'state'))} });
      await runtime.prepare(${JSON.stringify(spec)});
      console.log(JSON.stringify(await runtime.start(${JSON.stringify(id)})));`;
    const child = await runCommand(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(child.code, 0, child.stderr);
    const { pid } = JSON.parse(child.stdout) as { pid: number };
    const json = await waitFor('the orphaned hello', () => getJson(`http://${addresses.ipv4}:8080/json`));
    assert.equal(json.machine_id, id);
    assert.deepEqual(await runtime.inspect(id), { state: 'running', pid });
    const exit = await runtime.stop(id, { timeoutMs: 5000 });
    assert.equal(exit?.exitCode, 0);
  });

  it('runs the same sandboxes with runc', async () => {
    const runc = await createRuntime({ stateDir: join(work, 'runc-state'), runtimeBin: 'runc' });
    assert.equal(runc.name, 'runc');
    const m = await launch('runc', ['/hello'], {}, runc);
    try {
      const json = await waitFor('hello under runc', () => getJson(`http://${m.ipv4}:8080/json`));
      assert.equal(json.machine_id, m.id);
      assert.match(
        readFileSync(`/proc/${m.pid}/status`, 'utf8'),
        new RegExp(`^CapEff:\\s+${DOCKER_DEFAULT_CAPS}$`, 'm'),
      );
      assert.equal((await runc.inspect(m.id)).state, 'running');
      const exit = await runc.stop(m.id, { timeoutMs: 5000 });
      assert.equal(exit?.exitCode, 0);
    } finally {
      await runc.destroy(m.id);
    }
    assert.deepEqual(await runc.inspect(m.id), { state: 'absent' });
  });

  it('a machine stopped to start again waits in a container created ahead; a new bundle or destroy discards it', async () => {
    const m = await launch('ahead', ['/hello']);
    const hello = async () => (await fetch(`http://${m.ipv4}:8080/`)).text();
    await waitFor('hello to listen', hello);
    await runtime.stop(m.id, { startsAgain: true });
    // Created, its process held before its exec: nothing listens, the shim waits for it.
    const waiting = await runtime.inspect(m.id);
    assert.equal(waiting.state, 'created');
    await assert.rejects(hello());
    const { pid } = await runtime.start(m.id);
    // The held process is the one that runs: the start did not make another container.
    assert.equal(pid, waiting.pid);
    assert.deepEqual(await runtime.inspect(m.id), { state: 'running', pid });
    assert.equal(await waitFor('hello again', hello), `hello from ${m.id} in tst\n`);

    // A new bundle (another environment) while it waits: the next start runs the new one.
    await runtime.stop(m.id, { startsAgain: true });
    assert.equal((await runtime.inspect(m.id)).state, 'created');
    await runtime.prepare({
      id: m.id,
      imageRootfs,
      dir: join(work, 'machines', m.id),
      process: {
        args: ['/hello'],
        env: ['PATH=/bin', `FLY_MACHINE_ID=${m.id}`, 'FLY_REGION=new'],
        cwd: '/',
        user: { uid: 0, gid: 0, additionalGids: [] },
      },
      hostname: m.id,
      resources: { cpus: 0.5, memoryMb: 64, pids: 64, cpuKind: 'performance' },
      netnsPath: m.netnsPath,
      files: [],
    });
    assert.notEqual((await runtime.inspect(m.id)).state, 'created');
    await runtime.start(m.id);
    assert.equal(await waitFor('hello with the new bundle', hello), `hello from ${m.id} in new\n`);
    // Its exit is its own, not the discarded container's.
    assert.equal((await runtime.inspect(m.id)).state, 'running');

    // Stopped for good (no start expected): nothing waits.
    await runtime.stop(m.id);
    assert.notEqual((await runtime.inspect(m.id)).state, 'created');
    // Destroyed while waiting: nothing of it stays.
    await runtime.start(m.id);
    await runtime.stop(m.id, { startsAgain: true });
    assert.equal((await runtime.inspect(m.id)).state, 'created');
    const shims = async () =>
      (await runCommand('pgrep', ['-f', `shim --pid-file ${join(work, 'machines', m.id)}`])).stdout.trim();
    assert.notEqual(await shims(), '');
    await runtime.destroy(m.id);
    await network.detach(m.id);
    assert.deepEqual(existingCgroupDirs(m.id), []);
    assert.equal(await waitFor('its shim to end', async () => (await shims()) === ''), true);
    assert.deepEqual(await runtime.inspect(m.id), { state: 'absent' });
  });

  it('destroy leaves no mount, cgroup, netns, veth or directory behind', async () => {
    const m = await launch('gone', ['/hello']);
    const dir = join(work, 'machines', m.id);
    const mounts = overlayPaths(dir);
    for (const target of [mounts.merged, mounts.lower, mounts.disk])
      assert.ok(await isMounted(target), target);
    const loops = await runCommand('losetup', ['--associated', mounts.diskImage, '--noheadings']);
    assert.notEqual(loops.stdout.trim(), '', 'the root disk is on a loop device');
    assert.ok(existingCgroupDirs(m.id).length > 0);
    await runtime.destroy(m.id);
    await runtime.destroy(m.id); // idempotent
    await network.detach(m.id);
    for (const target of [mounts.merged, mounts.lower, mounts.disk])
      assert.equal(await isMounted(target), false, target);
    const allLoops = await runCommand('losetup', ['--list', '--noheadings', '-O', 'BACK-FILE']);
    assert.equal(allLoops.stdout.includes(dir), false, 'its loop device is detached');
    assert.equal(existsSync(dir), false);
    assert.deepEqual(existingCgroupDirs(m.id), []);
    assert.equal(existsSync(m.netnsPath), false);
    assert.deepEqual(await runtime.inspect(m.id), { state: 'absent' });
    assert.equal((await runtime.list()).includes(m.id), false);
  });
});
