/**
 * The spine, end to end, the way the README tells users to do it: a real registry, a real
 * `nearby server` (HAProxy, crun/runc, SQLite), the CLI in a fresh directory, curl through the proxy.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { MachineView } from '../src/model/mod.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { freePort, type RunningRegistry, startRegistry } from './helpers/registry.ts';

const run = promisify(execFile);

/** What a user's curl gets: status line and body. */
async function curl(url: string, ...extra: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '--max-time', '20', '-w', '\n%{http_code}', ...extra, url]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** Host pids of the processes in a machine's cgroup (their /proc/PID/cgroup names the machine). */
async function processesInCgroupOf(machineId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cgroup = await readFile(`/proc/${name}/cgroup`, 'utf8').catch(() => '');
    if (cgroup.includes(`/nearby/${machineId}`)) pids.push(Number(name));
  }
  return pids;
}

describe('deploy an image and reach it through the edge proxy', { concurrency: false }, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let image: string;
  let workdir: string;
  let appUrl: string;
  // Cleanups run in the suite's `after`, in reverse order of creation.
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const tempDir = async (prefix: string) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    return dir;
  };

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    workdir = await tempDir('nearby-app-');
    appUrl = `http://hello.localhost:${nearby.proxyPort}`;
  });

  test('launch creates the app and writes nearby.toml', async () => {
    const result = await nearby.cli(['launch', '--image', image, '--name', 'hello'], { cwd: workdir });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Created app hello/);
    const toml = await readFile(join(workdir, 'nearby.toml'), 'utf8');
    assert.match(toml, /app = "hello"/);
    assert.match(toml, /internal_port = 8080/, 'the port comes from the image');
    const validate = await nearby.cli(['config', 'validate'], { cwd: workdir });
    assert.equal(validate.code, 0, validate.stderr);
    assert.equal(JSON.parse(validate.stdout).app, 'hello');
  });

  test('deploy starts machines and curl is answered from inside one', async () => {
    const result = await nearby.cli(['deploy'], { cwd: workdir });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}\n${nearby.output().slice(-3000)}`);
    assert.match(result.stdout, /Visit it at http:\/\/hello\.localhost:\d+\//);
    const { body } = await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines');
    assert.equal(body.length, 2);
    const ids = new Set(body.map((m) => m.id));
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const answer = await curl(`${appUrl}/`);
      assert.equal(answer.status, 200);
      const match = /^hello from ([0-9a-f]{14}) in fra$/.exec(answer.body.trim());
      assert.ok(match, answer.body);
      assert.ok(ids.has(match[1]), `answered by a machine of the app: ${answer.body}`);
      seen.add(match[1]);
    }
    assert.equal(seen.size, 2, 'both machines take requests');
  });

  test('the machine sees the platform env, and the proxy adds forwarding headers', async () => {
    const env = await curl(`${appUrl}/env`);
    for (const name of [
      'FLY_APP_NAME=hello',
      'NEARBY_APP_NAME=hello',
      'FLY_REGION=fra',
      'FLY_MACHINE_ID=',
      'FLY_PRIVATE_IP=fdaa:',
      'FLY_IMAGE_REF=',
    ]) {
      assert.ok(env.body.includes(name), `${name} in\n${env.body}`);
    }
    const headers = (await curl(`${appUrl}/headers`, '-H', 'Via: 1.1 corp-proxy')).body.toLowerCase();
    assert.match(headers, /fly-client-ip: 127\.0\.0\.1/);
    assert.match(headers, /x-forwarded-for: 127\.0\.0\.1/);
    assert.match(headers, /x-forwarded-proto: http/);
    assert.match(headers, new RegExp(`x-forwarded-port: ${nearby.proxyPort}`));
    assert.match(headers, /fly-region: fra/);
    assert.match(headers, /fly-request-id: \S+-fra/);
    // A second Via field line is the same as appending to the first (RFC 9110 §5.3). The proxy
    // names itself by its host name (--host-name), so hops across hosts show.
    assert.match(headers, new RegExp(`via: 1\\.1 corp-proxy(, |\r\n(.*\r\n)*via: )1\\.1 ${nearby.hostName}`));
  });

  test('status shows machines, state, region, digest and address; logs show their output', async () => {
    const status = await nearby.cli(['status'], { cwd: workdir });
    assert.equal(status.code, 0, status.stderr);
    const rows = status.stdout.split('\n').filter((line) => /^[0-9a-f]{14}\s/.test(line));
    assert.equal(rows.length, 2, status.stdout);
    for (const row of rows) {
      assert.match(row, /\sstarted\s+fra\s/);
      assert.match(row, /\s[0-9a-f]{12}\s/, 'digest shown');
      assert.match(row, /fdaa:/, 'private address shown');
    }
    const logs = await eventually(
      async () => {
        const result = await nearby.cli(['logs', '--no-tail'], { cwd: workdir });
        return result.stdout.includes('hello: GET /env 200') ? result.stdout : undefined;
      },
      15_000,
      'request lines in nearby logs',
    );
    assert.match(logs, /app\[[0-9a-f]{14}\] fra \[info\] hello: listening on :8080/);
  });

  test('a machine stops, starts and is destroyed; traffic follows', async () => {
    const { body: machines } = await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines');
    const [first, second] = machines;
    const stop = await nearby.cli(['machine', 'stop', first.id], { cwd: workdir });
    assert.equal(stop.code, 0, stop.stderr);
    for (let i = 0; i < 6; i++) assert.match((await curl(`${appUrl}/`)).body, new RegExp(second.id));
    const start = await nearby.cli(['machine', 'start', first.id], { cwd: workdir });
    assert.equal(start.code, 0, start.stderr);
    const refused = await nearby.cli(['machine', 'destroy', second.id], { cwd: workdir });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is started; stop it first, or destroy with force=true/);
    assert.doesNotMatch(refused.stderr, /at .*\.ts:\d+/, 'no stack trace');
    const destroy = await nearby.cli(['machine', 'destroy', '--force', second.id], { cwd: workdir });
    assert.equal(destroy.code, 0, destroy.stderr);
    await eventually(
      async () => {
        const answers = await Promise.all([1, 2, 3, 4].map(() => curl(`${appUrl}/`)));
        return answers.every((a) => a.body.includes(first.id)) ? true : undefined;
      },
      15_000,
      'traffic only to the remaining machine',
    );
    const list = await nearby.cli(['machine', 'list'], { cwd: workdir });
    assert.doesNotMatch(list.stdout, new RegExp(second.id));
  });

  test('machine run starts a one-off machine with an overridden command and env', async () => {
    const result = await nearby.cli(
      ['machine', 'run', image, '--name', 'worker', '-e', 'GREETING=hi', '--', '--user', 'app'],
      { cwd: workdir },
    );
    assert.equal(result.code, 0, result.stderr);
    const id = /Machine ([0-9a-f]{14})/.exec(result.stdout)?.[1];
    assert.ok(id);
    const { body } = await nearby.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
    assert.equal(body.state, 'started');
    const logs = await eventually(
      async () => {
        const out = await nearby.cli(['logs', '--no-tail', '-i', id], { cwd: workdir });
        return out.stdout.includes('listening') ? out.stdout : undefined;
      },
      15_000,
      'the worker to log',
    );
    assert.match(logs, /uid=1000/, 'the image switched to its unprivileged user');
    await nearby.cli(['machine', 'destroy', '--force', id], { cwd: workdir });
  });

  test('a restart of nearby loses nothing and keeps machines running', async () => {
    const before = (await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines')).body;
    const counterBefore = JSON.parse((await curl(`${appUrl}/json`)).body).counter;
    await nearby.restart();
    const afterRestart = (await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines')).body;
    assert.deepEqual(
      afterRestart.map((m) => [m.id, m.state, m.instance_id]),
      before.map((m) => [m.id, m.state, m.instance_id]),
    );
    const answer = await eventually(
      async () => {
        const response = await curl(`${appUrl}/json`);
        return response.status === 200 ? response : undefined;
      },
      30_000,
      'the app to answer after the restart',
    );
    assert.ok(
      JSON.parse(answer.body).counter > counterBefore,
      'the same process still serves: it was adopted',
    );
  });

  test('a machine killed from outside is restarted by its restart policy', async () => {
    const [machine] = (await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines')).body;
    const before = JSON.parse((await curl(`${appUrl}/json`)).body).counter;
    assert.ok(before > 1);
    const pids = await processesInCgroupOf(machine.id);
    assert.ok(pids.length > 0, 'the machine has processes in its own cgroup');
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const view = await eventually(
      async () => {
        const { body } = await nearby.api<MachineView>('GET', `/v1/apps/hello/machines/${machine.id}`);
        return body.state === 'started' && body.nearby.restarts >= 1 ? body : undefined;
      },
      30_000,
      'the machine to be restarted',
    );
    assert.ok(
      view.events.some((e) => e.type === 'exit'),
      'the exit is an event',
    );
    const after = await eventually(
      async () => {
        const response = await curl(`${appUrl}/json`);
        return response.status === 200 ? JSON.parse(response.body) : undefined;
      },
      15_000,
      'the restarted machine to answer',
    );
    assert.equal(after.machine_id, machine.id);
    assert.ok(after.counter < before, 'a new process answers');
  });

  test('bad input gets a clear message and disturbs nothing', async () => {
    const missing = await nearby.cli(
      ['launch', '--image', `${registry.url}/nope:1`, '--name', 'nope', '--force'],
      {
        cwd: await tempDir('nearby-bad-'),
      },
    );
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found/i);
    assert.doesNotMatch(missing.stderr, /\.ts:\d+/);

    const closedPort = await freePort();
    const down = await nearby.cli(['machine', 'run', `127.0.0.1:${closedPort}/hello:1`, '-a', 'hello'], {
      cwd: workdir,
    });
    assert.equal(down.code, 1);
    assert.match(down.stderr, new RegExp(`registry 127\\.0\\.0\\.1:${closedPort} is unreachable`));

    const badDir = await tempDir('nearby-bad-');
    await writeFile(
      join(badDir, 'nearby.toml'),
      'app = "hello"\n[http_service]\ninternal_port = "80a"\n[htp_service]\n',
    );
    const badConfig = await nearby.cli(['deploy'], { cwd: badDir });
    assert.equal(badConfig.code, 1);
    assert.match(badConfig.stderr, /internal_port/);
    assert.match(badConfig.stderr, /htp_service/);

    const wrongType = await nearby.api<{ error: string }>('POST', '/v1/apps/hello/machines', {
      config: { image, guest: { cpus: 'two' } },
    });
    assert.equal(wrongType.status, 400);
    assert.match(wrongType.body.error, /config\.guest\.cpus/);
    const noAuth = await fetch(`${nearby.apiUrl}/v1/apps`);
    assert.equal(noAuth.status, 401);
    assert.equal((await nearby.api('GET', '/v1/apps/nope')).status, 404);

    // A machine whose command exits at once: the deploy fails and says why, with its output.
    const crashDir = await tempDir('nearby-crash-');
    await writeFile(
      join(crashDir, 'nearby.toml'),
      `app = "crashy"\nprimary_region = "fra"\n[build]\nimage = "${image}"\n[experimental]\ncmd = ["--fail"]\n[http_service]\ninternal_port = 8080\n`,
    );
    const crash = await nearby.cli(['deploy', '--no-ha'], { cwd: crashDir });
    assert.equal(crash.code, 1, crash.stdout);
    assert.match(crash.stderr, /exited with code 3/);

    // Nothing already running was disturbed.
    assert.match((await curl(`${appUrl}/`)).body, /hello from/);
  });

  test('a second deploy replaces each machine with a new version', async () => {
    await writeFile(
      join(workdir, 'nearby.toml'),
      `${await readFile(join(workdir, 'nearby.toml'), 'utf8')}\n[env]\n  RELEASE = "two"\n`,
    );
    const before = (await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines')).body;
    const result = await nearby.cli(['deploy'], { cwd: workdir });
    assert.equal(result.code, 0, result.stderr);
    const afterDeploy = (await nearby.api<MachineView[]>('GET', '/v1/apps/hello/machines')).body;
    assert.deepEqual(
      afterDeploy.map((m) => m.id),
      before.map((m) => m.id),
    );
    for (const machine of afterDeploy) {
      assert.equal(machine.state, 'started');
      assert.notEqual(machine.instance_id, before.find((m) => m.id === machine.id)?.instance_id);
    }
    assert.match((await curl(`${appUrl}/env`)).body, /RELEASE=two/);
  });

  test('an unknown app gets a clear 404 page from the proxy', async () => {
    const answer = await curl(`http://nope.localhost:${nearby.proxyPort}/`);
    assert.equal(answer.status, 404);
    assert.match(answer.body, /nope/);
  });
});
