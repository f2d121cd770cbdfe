/**
 * The data plane outlives the control plane: while `nearby server` is stopped, killed or upgraded,
 * HAProxy keeps answering from the last routes, and the next start adopts the running HAProxy
 * (same master process; a newer nearby reloads it in place). A request that needs a wake while
 * nearby is down gets a quick 503 with Retry-After. `nearby host clean` stops it. Real registry,
 * `nearby server`, HAProxy, crun, and the CLI as users run it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { MachineView } from '../src/model/mod.ts';
import { proxyPaths } from '../src/proxy/haproxy-config.ts';
import { cliCommand, parseShowProc } from '../src/proxy/runtime-api.ts';
import { type Answer, getApp } from './helpers/http.ts';
import { helloImage } from './helpers/images.ts';
import { steadyLoad } from './helpers/load.ts';
import { eventually, type RunningNearby, repoRoot, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

describe('restarts: HAProxy keeps serving while nearby is down, and is adopted', {
  concurrency: false,
}, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let image: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const get = (app: string) => getApp(nearby.proxyPort, app);
  /** nearby's output without the access log: what the control plane did around a failure. */
  const controlLog = () =>
    nearby
      .output()
      .split('\n')
      .filter((line) => !line.includes('"component":"access"'))
      .join('\n')
      .slice(-6000);

  const machines = async (app: string) =>
    (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;

  const master = async () => {
    const proc = parseShowProc(await cliCommand(proxyPaths(nearby.dataDir).masterSocket, 'show proc'));
    assert.ok(proc.master, 'the master CLI answers show proc');
    return proc.master;
  };

  async function deploy(app: string, serviceKeys: string) {
    const dir = await mkdtemp(join(tmpdir(), `nearby-${app}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(
      join(dir, 'nearby.toml'),
      `app = "${app}"\nprimary_region = "${nearby.region}"\n\n[build]\n  image = "${image}"\n\n` +
        `[http_service]\n  internal_port = 8080\n${serviceKeys}\n`,
    );
    const deployed = await nearby.cli(['deploy'], { cwd: dir });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
  }

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks, {
      args: ['--autostop-interval', '300ms', '--autostop-idle', '3s', '--wake-timeout', '5s'],
    });
    await deploy('web', '  auto_stop_machines = false');
    await deploy(
      'sleepy',
      '  auto_stop_machines = "stop"\n  auto_start_machines = true\n  min_machines_running = 0',
    );
    await eventually(
      async () => ((await machines('sleepy')).every((m) => m.state === 'stopped') ? true : undefined),
      30_000,
      'both machines of sleepy to stop',
    );
  });

  /** Restarts nearby under steady load; returns what the load and the down window saw. */
  async function restartUnderLoad(
    t: { diagnostic(message: string): void },
    options: { hard?: boolean; bin?: string } = {},
  ) {
    const load = steadyLoad(nearby.proxyPort, 'web.localhost');
    await delay(500);
    let okWhileDown = 0;
    let wake: Answer | undefined;
    const started = Date.now();
    await nearby.restart({
      ...options,
      whileDown: async () => {
        t.diagnostic(`nearby down at +${Date.now() - started} ms`);
        const before = load.ok;
        const asked = Date.now();
        wake = await get('sleepy');
        t.diagnostic(`a wake while nearby is down answered ${wake.status} in ${Date.now() - asked} ms`);
        await delay(1500);
        okWhileDown = load.ok - before;
      },
    });
    t.diagnostic(`nearby up again at +${Date.now() - started} ms`);
    // Requests after the start, through the routes the new nearby synced.
    await delay(1500);
    await load.stop();
    return { load, okWhileDown, wake };
  }

  test('SIGTERM: apps keep answering while nearby is down; the next start adopts HAProxy', async (t) => {
    const before = await master();
    const { load, okWhileDown, wake } = await restartUnderLoad(t);
    t.diagnostic(`${load.ok} requests, ${okWhileDown} while nearby was down, ${load.failures.length} failed`);
    assert.deepEqual(load.failures, [], controlLog());
    assert.ok(okWhileDown > 20, `HAProxy answered while nearby was down (${okWhileDown} requests)`);
    const after = await master();
    assert.equal(after.pid, before.pid, 'the same HAProxy master serves on: adopted, not restarted');
    assert.equal(after.reloads, before.reloads, 'nothing changed, so nothing was reloaded');

    // A stopped machine cannot be woken while nearby is down: a quick, clear 503, not a hang.
    assert.ok(wake);
    assert.equal(wake.status, 503, wake.body);
    assert.ok(wake.headers['retry-after'], 'the 503 says when to retry');
    // Back up, the same request wakes a machine.
    const woken = await get('sleepy');
    assert.equal(woken.status, 200, woken.body);
    assert.match(woken.body, /^hello from [0-9a-f]{14}/);
  });

  test('kill -9: apps keep answering, the next start adopts HAProxy and routes changes again', async (t) => {
    const before = await master();
    const { load, okWhileDown } = await restartUnderLoad(t, { hard: true });
    t.diagnostic(`${load.ok} requests, ${okWhileDown} while nearby was down, ${load.failures.length} failed`);
    assert.deepEqual(load.failures, [], controlLog());
    assert.ok(okWhileDown > 20, `HAProxy answered while nearby was down (${okWhileDown} requests)`);
    assert.equal((await master()).pid, before.pid);

    // The adopted HAProxy follows the store again: a new machine of web gets requests.
    const scaled = await nearby.cli(['scale', 'count', '3', '-a', 'web']);
    assert.equal(scaled.code, 0, scaled.stderr);
    const ids = new Set((await machines('web')).map((m) => m.id));
    assert.equal(ids.size, 3);
    await eventually(
      async () => {
        const seen = new Set<string>();
        for (let i = 0; i < 30; i++) seen.add((await get('web')).body.trim().split(' ')[2]);
        return seen.size === 3 ? true : undefined;
      },
      30_000,
      'requests to reach all three machines of web',
    );
  });

  test('a newer nearby adopts the running HAProxy and reloads it in place, failing no request', async (t) => {
    // A second checkout of this tree whose package.json has a newer version.
    const checkout = await mkdtemp(join(tmpdir(), 'nearby-upgrade-'));
    cleanups.push(() => rm(checkout, { recursive: true, force: true }));
    await cp(join(repoRoot, 'bin'), join(checkout, 'bin'), { recursive: true });
    await cp(join(repoRoot, 'src'), join(checkout, 'src'), { recursive: true });
    for (const shared of ['node_modules', 'native', 'scripts'])
      await symlink(join(repoRoot, shared), join(checkout, shared));
    const packageJson = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
    const version = `${packageJson.version}-upgrade.1`;
    await writeFile(join(checkout, 'package.json'), JSON.stringify({ ...packageJson, version }));
    await mkdir(join(checkout, 'docs'), { recursive: true });

    const before = await master();
    const { load } = await restartUnderLoad(t, { bin: join(checkout, 'bin', 'nearby') });
    t.diagnostic(`${load.ok} requests across the upgrade, ${load.failures.length} failed`);
    assert.deepEqual(load.failures, [], controlLog());
    const after = await master();
    assert.equal(after.pid, before.pid, 'the same HAProxy master: the upgrade did not restart it');
    assert.ok(after.reloads > before.reloads, 'the newer nearby reloaded HAProxy with its configuration');
    const config = await readFile(proxyPaths(nearby.dataDir).config, 'utf8');
    assert.match(config, new RegExp(`nearby ${version.replaceAll('.', '\\.')}`));
  });

  test('nearby host clean stops the HAProxy that outlived the server', async () => {
    const config = proxyPaths(nearby.dataDir).config;
    const running = () =>
      execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes('haproxy') && line.includes(config));
    await nearby.stop();
    assert.ok(running().length > 0, 'HAProxy runs on after the server stopped');
    assert.equal((await get('web')).status, 200);
    await nearby.clean();
    assert.deepEqual(running(), []);
    await assert.rejects(get('web'), { code: 'ECONNREFUSED' });
  });
});
