/**
 * `nearby world up --reach anycast`: iad and fra announce one edge address by BGP, the client
 * cities yyz and ams (each with an ISP bird) reach it through the nearest region — yyz via iad,
 * ams via fra, each at the matrix's distance; iad drained, yyz is served by fra; undrained, by
 * iad again. Prints the failover time.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { eventually, nearbyBin } from './helpers/nearby.ts';
import { freeWorld, pushHello } from './helpers/world.ts';

const run = promisify(execFile);

describe('a world reached by Anycast: iad and fra, clients yyz and ams', { concurrency: false }, () => {
  let dir: string;
  let world: { api_url: string; token: string; registry: string; clients: { city: string; netns: string }[] };
  const nearby = (args: string[]) => run(nearbyBin, [...args, '--dir', dir], { maxBuffer: 16 << 20 });
  const cli = (args: string[]) =>
    run(nearbyBin, args, {
      env: { ...process.env, NEARBY_API_URL: world.api_url, NEARBY_API_TOKEN: world.token },
    });
  /** As a user there: the app's name, resolved by the world's DNS (to the Anycast address). */
  const fromClient = async (city: string) => {
    const netns = world.clients.find((client) => client.city === city)?.netns as string;
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      netns,
      'curl',
      '-s',
      '--max-time',
      '3',
      'http://hello.world.test/',
    ]).catch(() => ({ stdout: '' }));
    return stdout.trim();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nearby-world-anycast-'));
    const free = await freeWorld();
    const up = await nearby([
      ...['world', 'up', '--regions', 'iad,fra', '--clients', 'yyz,ams', '--reach', 'anycast'],
      ...['--name', free.name, '--octet', String(free.octet)],
    ]);
    console.log(up.stdout);
    world = JSON.parse((await nearby(['world', 'status', '--json', '--no-measure'])).stdout);
    await pushHello(world.registry, world.token);
    await cli(['apps', 'create', 'hello']);
    for (const region of ['iad', 'fra'])
      await cli([
        'machine',
        'run',
        `${world.registry}/hello:1`,
        '-a',
        'hello',
        '--region',
        region,
        '-p',
        '8080',
      ]);
  });
  after(async () => {
    await nearby(['world', 'down']).catch((error) => console.log(String(error)));
    await rm(dir, { recursive: true, force: true });
  });

  test('names resolve to the Anycast address, and each client is served by its nearest region', async () => {
    const yyz = world.clients.find((client) => client.city === 'yyz')?.netns as string;
    const { stdout: resolved } = await run('ip', [
      'netns',
      'exec',
      yyz,
      'getent',
      'hosts',
      'hello.world.test',
    ]);
    assert.match(resolved, /^198\.18\.\d+\.1\s/);
    await eventually(
      async () => ((await fromClient('yyz')).endsWith(' in iad') ? true : undefined),
      60_000,
      'yyz via iad',
    );
    await eventually(
      async () => ((await fromClient('ams')).endsWith(' in fra') ? true : undefined),
      60_000,
      'ams via fra',
    );
    const { stdout: timing } = await run('ip', [
      ...['netns', 'exec', yyz, 'curl', '-s', '-o', '/dev/null', '-w', '%{time_connect}'],
      'http://hello.world.test/',
    ]);
    console.log(`yyz → Anycast TCP connect ${(Number(timing) * 1000).toFixed(1)} ms (matrix yyz-iad 18 ms)`);
    assert.ok(Number(timing) * 1000 >= 18, 'the way to the Anycast address is delayed like the way to iad');
  });

  test('iad drained: yyz is served by fra; undrained: by iad again', async () => {
    const drain = (command: string) =>
      run(nearbyBin, ['anycast', command, '--state-dir', join(dir, 'anycast', 'iad-1')]);
    const started = performance.now();
    await drain('drain');
    while (!(await fromClient('yyz')).endsWith(' in fra')) {
      if (performance.now() - started > 60_000) assert.fail('yyz was not served by fra within 60 s');
    }
    console.log(`anycast_failover_ms=${Math.round(performance.now() - started)}`);
    assert.match(await fromClient('ams'), / in fra$/);
    await drain('undrain');
    await eventually(
      async () => ((await fromClient('yyz')).endsWith(' in iad') ? true : undefined),
      60_000,
      'yyz via iad again',
    );
  });
});
