/**
 * Deploys end to end: releases, strategies under a steady load of keep-alive requests through the
 * edge proxy (none may fail), rollback of a release that fails its checks, release_command,
 * Ctrl-C mid-deploy, and process groups — a real registry, `nearby server`, the CLI as users run it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { MachineView, ReleaseRecord } from '../src/model/mod.ts';
import { helloImage } from './helpers/images.ts';
import { steadyLoad } from './helpers/load.ts';
import { nearbyBin, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

describe('deploy: strategies, releases, rollback, release_command', { concurrency: false }, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let image: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** A directory with this nearby.toml, removed after the suite. */
  const appDir = async (toml: string) => {
    const dir = await mkdtemp(join(tmpdir(), 'nearby-deploy-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'nearby.toml'), toml);
    return dir;
  };
  const machines = async (app: string) =>
    (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
  const releases = async (app: string) =>
    (await nearby.api<{ releases: ReleaseRecord[] }>('GET', `/v1/apps/${app}/releases`)).body.releases;
  const deploy = async (dir: string, ...args: string[]) => {
    const result = await nearby.cli(['deploy', ...args], { cwd: dir });
    return { ...result, all: `${result.stdout}\n${result.stderr}` };
  };

  const webToml = (extra: string) => `app = "web"
primary_region = "fra"
[build]
  image = "${image}"
[http_service]
  internal_port = 8080
  [[http_service.checks]]
    interval = "1s"
    timeout = "1s"
    path = "/"
${extra}`;
  let webDir: string;

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
  });

  test('a rolling deploy under steady load fails no request, and is listed as a release', async (t) => {
    webDir = await appDir(webToml('[env]\n  RELEASE = "one"\n'));
    const first = await deploy(webDir);
    assert.equal(first.code, 0, first.all);
    assert.match(first.stdout, /Deploying web v1 \(rolling\)/);
    assert.match(first.stdout, /checks passing \(1\/1\)/);
    // The agent's pull progress, as the deploy printed it: the image and its bytes fetched / needed.
    const pulled = first.stdout.match(
      /Machine \S+ pulled (\S+)@sha256:[0-9a-f]{12}… ([\d.]+ [kMG]?B) \/ ([\d.]+ [kMG]?B)\n/,
    );
    assert.ok(pulled, `a pull line with a byte count:\n${first.stdout}`);
    assert.equal(pulled[1], image.replace(/@.*$/, ''));
    assert.equal(pulled[2], pulled[3], 'every byte of the image is in when it is pulled');
    assert.notEqual(pulled[2], '0 B');
    assert.match(first.stdout, /Visit it at http:\/\/web\.localhost:\d+\//);
    const before = await machines('web');
    assert.equal(before.length, 2);

    await writeFile(join(webDir, 'nearby.toml'), webToml('[env]\n  RELEASE = "two"\n'));
    const load = steadyLoad(nearby.proxyPort, 'web.localhost');
    await delay(500);
    const second = await deploy(webDir);
    await delay(500);
    await load.stop();
    t.diagnostic(`${load.ok} requests through the proxy during the deploy, ${load.failures.length} failed`);
    assert.equal(second.code, 0, second.all);
    assert.match(second.stdout, /out of rotation, draining/);
    assert.deepEqual(load.failures, [], `failed requests during the rolling deploy:\n${second.stdout}`);
    assert.ok(load.ok > 50, `the load kept going (${load.ok} requests)`);
    const after = await machines('web');
    assert.deepEqual(after.map((m) => m.id).sort(), before.map((m) => m.id).sort());
    for (const machine of after) assert.equal(machine.config.env?.RELEASE, 'two');

    const listed = await nearby.cli(['releases', '-a', 'web']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /VERSION\s+STATUS\s+STRATEGY\s+IMAGE\s+DIGEST/);
    assert.match(listed.stdout, /v2\s+complete\s+rolling\s+hello:1\s+[0-9a-f]{12}\s+admin/);
    assert.match(listed.stdout, /v1\s+complete\s+rolling/);
    const json = JSON.parse(
      (await nearby.cli(['releases', '-a', 'web', '--json'])).stdout,
    ) as ReleaseRecord[];
    assert.deepEqual(
      json.map((r) => r.version),
      [2, 1],
    );
    assert.equal(json[0].configs.app.env?.RELEASE, 'two');
    assert.match(json[0].image_ref.digest, /^sha256:/);
  });

  test('a bluegreen deploy under steady load fails no request and replaces every machine', async (t) => {
    await writeFile(join(webDir, 'nearby.toml'), webToml('[env]\n  RELEASE = "three"\n'));
    const before = await machines('web');
    const load = steadyLoad(nearby.proxyPort, 'web.localhost');
    await delay(500);
    const result = await deploy(webDir, '--strategy', 'bluegreen');
    await delay(500);
    await load.stop();
    t.diagnostic(`${load.ok} requests through the proxy during the deploy, ${load.failures.length} failed`);
    assert.equal(result.code, 0, result.all);
    assert.match(result.stdout, /green machine/);
    assert.match(result.stdout, /Blue machine [0-9a-f]{14} destroyed/);
    assert.deepEqual(load.failures, [], `failed requests during the bluegreen deploy:\n${result.stdout}`);
    assert.ok(load.ok > 50, `the load kept going (${load.ok} requests)`);
    const after = await machines('web');
    assert.equal(after.length, 2);
    for (const machine of after) {
      assert.ok(!before.some((old) => old.id === machine.id), 'every machine is new');
      assert.equal(machine.config.env?.RELEASE, 'three');
      assert.equal(machine.cordoned, false);
    }
  });

  test('a release that fails its health checks rolls back, and the app keeps answering', async (t) => {
    // The new release listens on another port than the one its checks and service use.
    await writeFile(
      join(webDir, 'nearby.toml'),
      webToml('[env]\n  RELEASE = "four"\n  PORT = "9090"\n[deploy]\n  wait_timeout = "6s"\n'),
    );
    const before = await machines('web');
    const load = steadyLoad(nearby.proxyPort, 'web.localhost');
    await delay(500);
    const result = await deploy(webDir);
    await delay(500);
    await load.stop();
    t.diagnostic(`${load.ok} requests through the proxy during the deploy, ${load.failures.length} failed`);
    assert.equal(result.code, 1, result.all);
    assert.match(result.stderr, /did not pass its health checks within 6s/);
    assert.match(result.stdout, /Rolling back web to the previous release/);
    assert.match(result.stdout, /Rolled back: every machine runs the previous release again/);
    assert.deepEqual(load.failures, [], `failed requests during the failed deploy:\n${result.stdout}`);
    const after = await machines('web');
    assert.deepEqual(after.map((m) => m.id).sort(), before.map((m) => m.id).sort());
    for (const machine of after) {
      assert.equal(machine.config.env?.RELEASE, 'three');
      assert.equal(machine.state, 'started');
      assert.equal(machine.cordoned, false);
    }
    const [latest] = await releases('web');
    assert.equal(latest.status, 'rolled_back');
    assert.match(latest.reason ?? '', /health checks/);
  });

  test('Ctrl-C during a deploy rolls back what it changed and exits 130', async () => {
    await writeFile(join(webDir, 'nearby.toml'), webToml('[env]\n  RELEASE = "five"\n'));
    const child = spawn(nearbyBin, ['deploy'], {
      cwd: webDir,
      env: nearby.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
        if (/updating to version/.test(stdout)) resolve();
      });
      child.on('close', () => resolve());
    });
    child.kill('SIGINT');
    const code = await exited;
    clearTimeout(timer);
    assert.equal(code, 130, `${stdout}\n${stderr}`);
    assert.match(stdout, /Interrupted/);
    assert.match(stdout, /Rolled back/);
    for (const machine of await machines('web')) {
      assert.equal(machine.config.env?.RELEASE, 'three');
      assert.equal(machine.state, 'started');
      assert.equal(machine.cordoned, false);
    }
    assert.equal((await releases('web'))[0].status, 'interrupted');
  });

  test('releases rollback VERSION deploys that release again, by digest, as a new release', async () => {
    const result = await nearby.cli(['releases', 'rollback', '2', '-a', 'web']);
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, /Rolling web back to v2/);
    assert.match(result.stdout, /hello:1@sha256:[0-9a-f]{64}/);
    for (const machine of await machines('web')) assert.equal(machine.config.env?.RELEASE, 'two');
    const [latest] = await releases('web');
    assert.equal(latest.status, 'complete');
    assert.deepEqual(latest.configs.app.env, { RELEASE: 'two', PRIMARY_REGION: 'fra' });
    const refused = await nearby.cli(['releases', 'rollback', String(latest.version - 1), '-a', 'web']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /is interrupted: it never ran everywhere/);
  });

  test('auto_rollback = false leaves a failed release where it stopped', async () => {
    await writeFile(
      join(webDir, 'nearby.toml'),
      webToml(
        '[env]\n  RELEASE = "six"\n  PORT = "9090"\n[deploy]\n  wait_timeout = "4s"\n[experimental]\n  auto_rollback = false\n',
      ),
    );
    const result = await deploy(webDir);
    assert.equal(result.code, 1, result.all);
    assert.match(result.stdout, /Not rolling back \(\[experimental\] auto_rollback = false\)/);
    const releasesNow = (await machines('web')).map((m) => m.config.env?.RELEASE).sort();
    assert.deepEqual(releasesNow, ['six', 'two'], 'one machine was changed, then the deploy stopped');
    assert.equal((await releases('web'))[0].status, 'failed');
  });

  test('bluegreen refuses services without health checks', async () => {
    const dir = await appDir(
      `app = "plain"\nprimary_region = "fra"\n[build]\n  image = "${image}"\n[http_service]\n  internal_port = 8080\n[deploy]\n  strategy = "bluegreen"\n`,
    );
    const result = await deploy(dir);
    assert.equal(result.code, 1, result.all);
    assert.match(result.stderr, /strategy "bluegreen" needs health checks/);
    assert.match(result.stderr, /http_service\.checks/);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  });

  test('release_command runs before the rollout; its failure stops the deploy and changes nothing', async () => {
    // The image's entrypoint is /hello: a shell entrypoint lets the release command be a script.
    const rcToml = (command: string, release: string) => `app = "rc"
primary_region = "fra"
[build]
  image = "${image}"
[experimental]
  entrypoint = ["/bin/sh", "-c"]
  cmd = ["exec /hello"]
[deploy]
  release_command = "${command}"
[env]
  RELEASE = "${release}"
[http_service]
  internal_port = 8080
`;
    const dir = await appDir(rcToml("'echo migrating the database for $RELEASE; exit 0'", 'one'));
    const ok = await deploy(dir, '--no-ha');
    assert.equal(ok.code, 0, ok.all);
    assert.match(ok.stdout, /Running release command/);
    assert.match(ok.stdout, /\| migrating the database for one/);
    assert.match(ok.stdout, /Release command succeeded/);
    const before = await machines('rc');
    assert.equal(before.length, 1, 'the release command machine is gone');

    await writeFile(join(dir, 'nearby.toml'), rcToml("'echo migration failed >&2; exit 7'", 'two'));
    const failed = await deploy(dir);
    assert.equal(failed.code, 1, failed.all);
    assert.match(failed.stdout, /\| migration failed/);
    assert.match(failed.stderr, /release command .* exited with code 7/);
    const after = await machines('rc');
    assert.deepEqual(
      after.map((m) => [m.id, m.instance_id]),
      before.map((m) => [m.id, m.instance_id]),
      'the running release is untouched',
    );
    assert.deepEqual(
      (await releases('rc')).map((r) => r.status),
      ['failed', 'complete'],
    );
  });

  test('process groups: machines per group on the first deploy, updated per group (canary) later', async () => {
    const groupsToml = (release: string) => `app = "groups"
primary_region = "fra"
[build]
  image = "${image}"
[processes]
  web = "--web"
  worker = "--no-listen"
[env]
  RELEASE = "${release}"
[http_service]
  internal_port = 8080
  processes = ["web"]
  [[http_service.checks]]
    interval = "1s"
    path = "/"
`;
    const dir = await appDir(groupsToml('one'));
    const first = await deploy(dir);
    assert.equal(first.code, 0, first.all);
    assert.match(first.stdout, /3 machines started \(2 \[web\], 1 \[worker\]\)/);
    const groupOf = (m: MachineView) => m.config.metadata?.fly_process_group;
    const before = await machines('groups');
    assert.deepEqual(before.map(groupOf).sort(), ['web', 'web', 'worker']);
    for (const machine of before) {
      assert.equal(machine.config.services?.length ?? 0, groupOf(machine) === 'web' ? 1 : 0);
    }

    await writeFile(join(dir, 'nearby.toml'), groupsToml('two'));
    const second = await deploy(dir, '--strategy', 'canary');
    assert.equal(second.code, 0, second.all);
    assert.match(second.stdout, /Canary [0-9a-f]{14} passed/);
    const after = await machines('groups');
    assert.deepEqual(after.map((m) => m.id).sort(), before.map((m) => m.id).sort(), 'the canary is gone');
    for (const machine of after) {
      assert.equal(machine.config.env?.RELEASE, 'two');
      assert.deepEqual(machine.config.init?.cmd, [groupOf(machine) === 'web' ? '--web' : '--no-listen']);
    }

    await writeFile(join(dir, 'nearby.toml'), groupsToml('three'));
    const third = await deploy(dir, '--strategy', 'immediate');
    assert.equal(third.code, 0, third.all);
    assert.match(third.stdout, /Deploying groups v3 \(immediate\)/);
    assert.doesNotMatch(third.stdout, /checks passing/, 'immediate does not wait for checks');
    for (const machine of await machines('groups')) assert.equal(machine.config.env?.RELEASE, 'three');
  });
});
