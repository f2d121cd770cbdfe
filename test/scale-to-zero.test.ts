/**
 * Scale to zero, end to end: apps deployed from a fly.toml with `auto_stop_machines` go to zero
 * started machines when idle (stopped or suspended), and the next requests wake one through the
 * activator and are answered; `min_machines_running` keeps machines up; a machine that never
 * listens yields a 503 with Retry-After, not a hang. Real registry, `nearby server`, HAProxy, crun.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MachineView } from '../src/model/mod.ts';
import { getApp } from './helpers/http.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

describe('scale to zero: idle apps stop, the next request wakes them', { concurrency: false }, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let image: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks, {
      args: ['--autostop-interval', '300ms', '--autostop-idle', '4s', '--wake-timeout', '3s'],
    });
  });

  /** A request through the edge proxy, as a user's client sends it (with a 30 s cap: never a hang). */
  const get = (app: string, path = '/') => getApp(nearby.proxyPort, app, path);

  const machines = async (app: string) =>
    (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
  const inState = async (app: string, state: string) =>
    (await machines(app)).filter((machine) => machine.state === state);

  /** `nearby launch`, then a nearby.toml with these [http_service] keys, then `nearby deploy`. */
  async function deploy(app: string, serviceKeys: string, deployArgs: string[] = []) {
    const dir = await mkdtemp(join(tmpdir(), `nearby-${app}-`));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const launched = await nearby.cli(['launch', '--image', image, '--name', app], { cwd: dir });
    assert.equal(launched.code, 0, launched.stderr);
    await writeFile(
      join(dir, 'nearby.toml'),
      `app = "${app}"\nprimary_region = "${nearby.region}"\n\n[build]\n  image = "${image}"\n\n` +
        `[http_service]\n  internal_port = 8080\n${serviceKeys}\n`,
    );
    const deployed = await nearby.cli(['deploy', ...deployArgs], { cwd: dir });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}\n${nearby.output().slice(-3000)}`);
  }

  const noneStarted = (app: string) =>
    eventually(
      async () => ((await inState(app, 'started')).length === 0 ? true : undefined),
      30_000,
      `${app} to have no started machine`,
    );

  test('auto_stop_machines = "stop", min 0: idle machines stop, the next request is answered', async () => {
    await deploy(
      'sleepy',
      '  auto_stop_machines = "stop"\n  auto_start_machines = true\n  min_machines_running = 0',
    );
    assert.equal((await machines('sleepy')).length, 2);
    await noneStarted('sleepy');
    await eventually(
      async () => ((await inState('sleepy', 'stopped')).length === 2 ? true : undefined),
      30_000,
      'both machines of sleepy to be stopped',
    );

    const answer = await get('sleepy');
    assert.equal(answer.status, 200, answer.body);
    const match = /^hello from ([0-9a-f]{14}) in fra$/.exec(answer.body.trim());
    assert.ok(match, answer.body);
    // The machine answers as soon as it listens; its agent records `started` a moment later.
    const woken = await eventually(
      async () =>
        (await machines('sleepy')).find((machine) => machine.id === match[1] && machine.state === 'started'),
      10_000,
      'the woken machine to be reported started',
    );
    const reasons = (woken?.events ?? []).map((event) => `${event.type}:${event.request?.reason ?? ''}`);
    assert.ok(reasons.includes('start:request'), `started for a request: ${reasons.join(', ')}`);
    assert.ok(reasons.includes('stop:idle'), `stopped for idleness before: ${reasons.join(', ')}`);

    // Once up, HAProxy sends requests straight to it; idle again, it stops again.
    assert.equal((await get('sleepy')).status, 200);
    await noneStarted('sleepy');
  });

  test('a burst of 50 concurrent requests at zero is answered in full', async () => {
    await noneStarted('sleepy');
    const answers = await Promise.all(Array.from({ length: 50 }, () => get('sleepy', '/json')));
    const statuses = answers.map((answer) => answer.status);
    const failed = answers.find((answer) => answer.status !== 200);
    assert.deepEqual(statuses, Array(50).fill(200), `${failed?.body}\n${nearby.output().slice(-3000)}`);
    for (const answer of answers) assert.equal(JSON.parse(answer.body).app, 'sleepy');
  });

  test('auto_stop_machines = "suspend": the process keeps its memory across a suspend', async () => {
    await deploy('dozy', '  auto_stop_machines = "suspend"\n  min_machines_running = 0', ['--no-ha']);
    const before = JSON.parse((await get('dozy', '/json')).body);
    await eventually(
      async () => ((await inState('dozy', 'suspended')).length === 1 ? true : undefined),
      30_000,
      'dozy to be suspended',
    );
    assert.equal((await inState('dozy', 'started')).length, 0);
    const after = await get('dozy', '/json');
    assert.equal(after.status, 200, after.body);
    const body = JSON.parse(after.body);
    assert.equal(body.pid, before.pid, 'the same process answers: it was frozen, not restarted');
    assert.equal(body.counter, before.counter + 1, 'its in-memory counter went on');
    // The agent records the resume right after thawing (the request may be answered first).
    await eventually(
      async () => {
        const [machine] = await machines('dozy');
        const types = machine.events.map((event) => `${event.type}:${event.request?.reason ?? ''}`);
        return types.includes('suspend:idle') && types.includes('resume:request') ? true : undefined;
      },
      10_000,
      'events saying dozy was suspended for idleness and resumed for a request',
    );
  });

  test('min_machines_running = 1 keeps one machine started', async () => {
    await deploy('steady', '  auto_stop_machines = "stop"\n  min_machines_running = 1');
    await eventually(
      async () => ((await inState('steady', 'stopped')).length === 1 ? true : undefined),
      30_000,
      'one of two machines of steady to stop',
    );
    // Many more autostop passes (300 ms apart) find the last machine idle past 4 s too, and leave it.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    assert.equal((await inState('steady', 'started')).length, 1);
    assert.equal((await get('steady')).status, 200);
  });

  test('when every started machine is over its soft_limit, another one is started', async () => {
    await deploy(
      'busy',
      '  auto_stop_machines = "stop"\n  min_machines_running = 1\n\n' +
        '[http_service.concurrency]\n  type = "connections"\n  soft_limit = 1\n  hard_limit = 25',
    );
    await eventually(
      async () => ((await inState('busy', 'stopped')).length === 1 ? true : undefined),
      30_000,
      'one of two machines of busy to stop',
    );
    // Three slow requests at once: the one started machine is over its soft_limit of 1.
    const slow = Promise.all([1, 2, 3].map(() => get('busy', '/sleep?ms=4000')));
    await eventually(
      async () => ((await inState('busy', 'started')).length === 2 ? true : undefined),
      15_000,
      'a second machine of busy to start for the load',
    );
    for (const answer of await slow) assert.equal(answer.status, 200, answer.body);
    const woken = (await machines('busy')).find((machine) =>
      machine.events.some((event) => event.type === 'start' && event.request?.reason === 'request'),
    );
    assert.ok(woken, 'the start is recorded as being for requests');
  });

  test('a machine that never listens yields a 503 with Retry-After, not a hang', async () => {
    const created = await nearby.api('POST', '/v1/apps', { app_name: 'deaf', org_slug: 'personal' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // The proxy serves the new app (no machine yet: HAProxy's own 503) before the machine exists.
    await eventually(
      async () => ((await get('deaf')).status === 503 ? true : undefined),
      30_000,
      'deaf routed',
    );
    const machine = await nearby.api<MachineView>('POST', '/v1/apps/deaf/machines', {
      skip_launch: true,
      config: {
        image,
        init: { cmd: ['--no-listen'] },
        services: [
          {
            protocol: 'tcp',
            internal_port: 8080,
            ports: [{ port: 80, handlers: ['http'] }],
            autostop: 'stop',
            autostart: true,
            min_machines_running: 0,
          },
        ],
      },
    });
    assert.equal(machine.status, 200, JSON.stringify(machine.body));
    await eventually(
      async () => ((await inState('deaf', 'stopped')).length === 1 ? true : undefined),
      30_000,
      'the deaf machine to be prepared',
    );
    const answers = await Promise.all([get('deaf'), get('deaf', '/json')]);
    for (const answer of answers) {
      assert.equal(answer.status, 503, answer.body);
      assert.ok(Number(answer.headers['retry-after']) >= 1, 'Retry-After says when to come back');
      assert.match(answer.body, /did not accept connections on port 8080/);
    }
    assert.equal((await inState('deaf', 'started')).length, 1, 'the machine was started for the request');
  });
});
