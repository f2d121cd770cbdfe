/**
 * The tenant-escape suite: a hostile image on a real `nearby server` tries to get out of its
 * machine. Root in it is an unprivileged range of host ids; it tries the host's API, registry,
 * metrics and HAProxy sockets (by address and by path), another org's machine and its secrets,
 * mount, ptrace, raw sockets, the kernel keyring, writes to /proc and /sys, device nodes, a fork
 * bomb, filling its memory, its disk and its log. Each attempt is refused or contained, and while the
 * attacks run the host's API and the other machines keep answering (checked by requests).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { controllerDir, readUsage } from '../src/agent/runtime/cgroups.ts';
import type { ExecReply, MachineView } from '../src/model/mod.ts';
import { gatewayAddresses } from '../src/net/mod.ts';
import { buildImage, buildLayer } from '../src/oci/build.ts';
import { pushImage } from '../src/oci/push.ts';
import { proxyPaths } from '../src/proxy/mod.ts';
import { busyboxLayer, helloBinaryLayer, PATH_ENV } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { freePort, startRegistry } from './helpers/registry.ts';

const run = promisify(execFile);
const SECRET = `hush-${process.pid}-do-not-leak`;

interface Machine {
  app: string;
  id: string;
  ipv4: string;
  ipv6: string;
}

describe('a hostile machine cannot get out', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let image: string;
  let metricsPort: number;
  let attacker: Machine;
  let neighbour: Machine;
  let victim: Machine;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function create(
    app: string,
    config: Record<string, unknown> = {},
    wait = 'started',
  ): Promise<Machine> {
    const created = await nearby.api<MachineView>('POST', `/v1/apps/${app}/machines`, {
      config: { image, guest: { cpus: 1, memory_mb: 256, cpu_kind: 'shared' }, ...config },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id;
    const waited = await nearby.api('GET', `/v1/apps/${app}/machines/${id}/wait?state=${wait}&timeout=60`);
    assert.equal(waited.status, 200, `${JSON.stringify(waited.body)}\n${nearby.output().slice(-2000)}`);
    const view = (await nearby.api<MachineView>('GET', `/v1/apps/${app}/machines/${id}`)).body;
    return { app, id, ipv4: view.nearby.ipv4 ?? '', ipv6: view.private_ip };
  }

  /** Runs `script` with /bin/sh inside the machine, through the API's exec. */
  async function sh(machine: Machine, script: string, timeout = 30): Promise<ExecReply> {
    const { status, body } = await nearby.api<ExecReply>(
      'POST',
      `/v1/apps/${machine.app}/machines/${machine.id}/exec`,
      { command: ['/bin/sh', '-c', script], timeout },
    );
    assert.equal(status, 200, JSON.stringify(body));
    return body;
  }

  /** What does not answer as it should right now: the host's API, and the other machines. */
  async function outage(): Promise<string[]> {
    const wrong: string[] = [];
    const api = await nearby.api('GET', '/v1/apps').catch((error: Error) => ({ status: error.message }));
    if (api.status !== 200) wrong.push(`API: ${api.status}`);
    for (const machine of [neighbour, victim]) {
      const body = await fetch(`http://${machine.ipv4}:8080/`, { signal: AbortSignal.timeout(10_000) })
        .then((response) => response.text())
        .catch((error: Error) => error.message);
      if (!body.includes(`hello from ${machine.id}`)) wrong.push(`${machine.app}: ${body}`);
    }
    return wrong;
  }

  /** Runs `attack` while asking `outage()` twice a second; returns what failed meanwhile. */
  async function whileAnswering<T>(attack: () => Promise<T>): Promise<{ result: T; failures: string[] }> {
    const failures: string[] = [];
    let done = false;
    const watcher = (async () => {
      while (!done) {
        failures.push(...(await outage()));
        await delay(500);
      }
    })();
    try {
      return { result: await attack(), failures };
    } finally {
      done = true;
      await watcher;
    }
  }

  before(async () => {
    const registry = await startRegistry(hooks);
    const work = await mkdtemp(join(tmpdir(), 'nearby-escape-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const probe = join(work, 'escape-probe');
    await run('gcc', ['-static', '-O2', '-o', probe, join(import.meta.dirname, 'helpers', 'escape-probe.c')]);
    const probeLayer = await buildLayer([
      { path: 'probe', type: 'file', content: await readFile(probe), mode: 0o755 },
    ]);
    const built = await buildImage({
      layers: [await busyboxLayer(), await helloBinaryLayer(), probeLayer],
      config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
    });
    await pushImage(registry.url, 'hostile', '1', built);
    image = `${registry.url}/hostile:1`;

    metricsPort = await freePort();
    process.env.NEARBY_METRICS_LISTEN = `127.0.0.1:${metricsPort}`;
    // A small root disk, so filling it takes a second.
    process.env.NEARBY_ROOT_DISK_GB = '1';
    nearby = await startNearby(hooks);
    for (const [app, org] of [
      ['attacker', 'personal'],
      ['victim', 'other'],
    ]) {
      const made = await nearby.api('POST', '/v1/apps', { app_name: app, org_slug: org });
      assert.equal(made.status, 201, JSON.stringify(made.body));
    }
    const secret = await nearby.api('POST', '/v1/apps/victim/secrets', { values: { VICTIM_SECRET: SECRET } });
    assert.equal(secret.status, 200, JSON.stringify(secret.body));
    attacker = await create('attacker');
    neighbour = await create('attacker');
    victim = await create('victim');
    assert.deepEqual(await outage(), []);
  });

  test('root in the machine is its own range of unprivileged host ids, and no host path shows', async () => {
    const maps = await Promise.all(
      [attacker, victim].map(async (m) => (await sh(m, 'cat /proc/self/uid_map')).stdout.trim().split(/\s+/)),
    );
    for (const [inside, host, count] of maps) {
      assert.equal(inside, '0');
      assert.ok(Number(host) >= 2 ** 30, `root is host id ${host}`);
      assert.equal(count, '65536');
    }
    assert.notEqual(maps[0][1], maps[1][1]);
    const mountinfo = (await sh(attacker, 'cat /proc/self/mountinfo')).stdout;
    for (const hostPath of [nearby.dataDir, tmpdir(), '/root', '/var/lib/nearby'])
      assert.equal(mountinfo.includes(`${hostPath}/`), false, `${hostPath} shows in\n${mountinfo}`);
    // The machine's root owns its files, as root in a container expects.
    const own = await sh(attacker, 'touch /etc/passwd /new && stat -c %u /etc/passwd /new');
    assert.equal(own.stdout, '0\n0\n', own.stderr);
    // An image that starts as root and drops to a user (as nginx and Postgres do) still can.
    const dropped = await sh(
      attacker,
      "chown app /new && busybox su -s /bin/sh -c 'id -u; echo hi > /home/app/note; cat /root/x' app; stat -c %u /home/app/note",
    );
    assert.equal(dropped.stdout, '1000\n1000\n', dropped.stderr);
    assert.match(dropped.stderr, /Permission denied/, 'the user is not root');
  });

  test("the host's API, registry, metrics and HAProxy sockets are out of reach, by address and by path", async () => {
    const settings = JSON.parse(await readFile(join(nearby.dataDir, 'server.json'), 'utf8'));
    const gateway = gatewayAddresses(settings.ipv4Cidr, settings.ipv6Cidr);
    const hostAddresses = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal && !a.address.startsWith('fe80'))
      .map((a) => a?.address ?? '');
    const ports = {
      api: Number(new URL(nearby.apiUrl).port),
      registry: Number(String(settings.registryListen).split(':').pop()),
      metrics: metricsPort,
    };
    const tries: string[] = [];
    for (const address of new Set([gateway.ipv4, gateway.ipv6, '127.0.0.1', '::1', ...hostAddresses])) {
      for (const [name, port] of Object.entries(ports)) {
        const host = address.includes(':') ? `[${address}]` : address;
        tries.push(
          `wget -q -T 2 -O- http://${host}:${port}/ >/dev/null 2>&1 && echo "${name} at ${host}:${port}"`,
        );
      }
    }
    const reached = await sh(attacker, `${tries.join('\n')}\ntrue`, 60);
    assert.equal(reached.stdout, '', 'nothing of the host answers');

    const proxy = proxyPaths(nearby.dataDir);
    const paths = [
      proxy.adminSocket,
      proxy.masterSocket,
      join(proxy.dir, 'metrics.sock'),
      join(nearby.dataDir, 'admin-token'),
      nearby.dataDir,
      '/run/netns',
      '/var/lib/nearby',
    ];
    const found = await sh(attacker, paths.map((path) => `test -e '${path}' && echo '${path}'`).join('\n'));
    assert.equal(found.stdout, '', 'no host path exists inside');
  });

  test("another org's machine does not answer, and no other machine's secrets or processes are in reach", async () => {
    const reached = await sh(
      attacker,
      `for a in ${victim.ipv4} [${victim.ipv6}]; do wget -q -T 3 -O- http://$a:8080/ && echo "reached $a"; done; true`,
    );
    assert.doesNotMatch(reached.stdout, /reached|hello from/);
    const secrets = await sh(
      attacker,
      `env; cat /proc/*/environ; grep -rs '${SECRET}' /etc /tmp /proc/*/environ; true`,
    );
    assert.equal(`${secrets.stdout}${secrets.stderr}`.includes(SECRET), false);
    assert.doesNotMatch(secrets.stdout, /NEARBY_API_TOKEN|FLY_API_TOKEN/);
    // The victim's process has a host pid; from inside, that pid is nobody's (or the machine's own).
    const victimPid = (await readFile(join(controllerDir(victim.id, 'pids'), 'cgroup.procs'), 'utf8')).split(
      '\n',
    )[0];
    const ptrace = await sh(attacker, `/probe ptrace ${victimPid}`);
    assert.match(ptrace.stdout, /ptrace_attach: refused/);
    const ps = await sh(attacker, 'ls /proc | grep -c "^[0-9]"');
    assert.ok(Number(ps.stdout) < 10, `the machine sees only its own processes: ${ps.stdout}`);
  });

  test('privileged calls are refused: mount, keyring, namespaces, device nodes, writes to /proc and /sys', async () => {
    const calls = await sh(attacker, '/probe syscalls');
    const allowed = calls.stdout.split('\n').filter((line) => line.includes('ALLOWED'));
    assert.deepEqual(allowed, [], calls.stdout);
    assert.match(calls.stdout, /add_key: refused/);
    assert.match(calls.stdout, /mknod_block: refused/);
    const writes = [
      'echo 1 > /proc/sys/kernel/sysrq',
      'echo h > /proc/sysrq-trigger',
      'echo 1 > /proc/sys/vm/drop_caches',
      'echo never > /sys/kernel/mm/transparent_hugepage/enabled',
      // The machine's own limits (cgroup v1: a directory per controller; v2: one directory).
      'echo 1 > /sys/fs/cgroup/pids/pids.max',
      'echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes',
      'test -f /sys/fs/cgroup/pids.max && echo 1 > /sys/fs/cgroup/pids.max',
      'echo 0 > /proc/sys/kernel/randomize_va_space',
    ];
    const wrote = await sh(
      attacker,
      writes.map((write) => `(${write}) 2>/dev/null && echo 'wrote: ${write}'`).join('\n'),
    );
    assert.equal(wrote.stdout, '');
    // Device nodes that exist are the harmless ones; the disks and memory are not there to open.
    const devices = await sh(attacker, 'ls /dev; cat /dev/vda /dev/sda /dev/mem 2>&1 | head -c 300; true');
    assert.doesNotMatch(devices.stdout, /\b(vda|sda|mem|kmsg)\b\n/);
  });

  test('raw sockets are refused, while ports below 1024 and ICMP echo work as in Docker', async () => {
    // NET_RAW is root's in the machine's user namespace, not in the network namespace the host made.
    const sniff = await sh(attacker, `/probe sniff ${victim.ipv4} 1`);
    assert.match(sniff.stdout, /packet_socket: refused \(EPERM\)/);
    const low = await sh(attacker, '(nc -l -p 80 -e echo low-port &) ; sleep 0.3; nc 127.0.0.1 80');
    assert.match(low.stdout, /low-port/, low.stderr);
    // Ping over ICMP datagram sockets (iputils' ping falls back to them; busybox's needs raw ones).
    const ping = await sh(attacker, `/probe ping ${neighbour.ipv4}`);
    assert.match(ping.stdout, /icmp_socket: ALLOWED\necho reply/);
  });

  test('a fork bomb, filling memory and filling the disk are contained, and the rest keeps answering', async () => {
    const { result, failures } = await whileAnswering(async () => {
      // The bomb's first process ends as the machine's server: exec forks nothing when no pid is left.
      const bomb = await create('attacker', {
        init: { exec: ['/bin/sh', '-c', 'f() { f | f & }; f >/dev/null 2>&1; exec /hello'] },
      });
      const hog = await create(
        'attacker',
        { init: { exec: ['/probe', 'memory'] }, restart: { policy: 'no' } },
        'stopped',
      );
      const disk = await sh(
        attacker,
        'dd if=/dev/zero of=/fill bs=1M count=1500 2>&1; df -m /; rm -f /fill',
        60,
      );
      let peakPids = 0;
      for (let i = 0; i < 10; i++) {
        peakPids = Math.max(peakPids, (await readUsage(bomb.id)).pids);
        await delay(300);
      }
      return { bomb, hog, disk, peakPids };
    });
    assert.deepEqual(failures, [], 'the host and the other machines answered during the attacks');
    assert.ok(
      result.peakPids > 100 && result.peakPids <= 4096,
      `the bomb peaked at ${result.peakPids} processes`,
    );
    assert.match(result.disk.stdout, /No space left on device/);
    const hog = (await nearby.api<MachineView>('GET', `/v1/apps/attacker/machines/${result.hog.id}`)).body;
    const exit = hog.events.find((event) => event.request?.exit_event)?.request?.exit_event as
      | { oom_killed?: boolean }
      | undefined;
    assert.equal(exit?.oom_killed, true, JSON.stringify(hog.events));
    for (const m of [result.bomb, result.hog]) {
      const gone = await nearby.api('DELETE', `/v1/apps/attacker/machines/${m.id}?force=true`);
      assert.equal(gone.status, 200, JSON.stringify(gone.body));
    }
    await eventually(async () => ((await outage()).length === 0 ? true : undefined), 30_000, 'all answering');
  });

  test("a machine writing output without end does not fill the host's disk with its log", async () => {
    // 100 MB of 4 kB lines: past 64 MB the shim starts the log file over.
    const flood =
      'x=$(head -c 4000 /dev/zero | tr "\\0" x); busybox yes "$x" | head -c 100000000; exec sleep 1000';
    const { result: flooder, failures } = await whileAnswering(async () => {
      const m = await create('attacker', { init: { exec: ['/bin/sh', '-c', flood] } });
      const log = join(nearby.dataDir, 'machines', m.id, 'console.log');
      await eventually(
        // The note is the first line of the file that started over.
        async () =>
          (await run('head', ['-c', '4096', log])).stdout.includes('started over') ? true : undefined,
        120_000,
        'the log to start over',
      );
      return { m, log };
    });
    assert.deepEqual(failures, []);
    assert.ok((await stat(flooder.log)).size <= 64 * 1024 * 1024 + 32 * 1024);
    const gone = await nearby.api('DELETE', `/v1/apps/attacker/machines/${flooder.m.id}?force=true`);
    assert.equal(gone.status, 200, JSON.stringify(gone.body));
  });
});
