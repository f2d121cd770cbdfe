/**
 * `nearby world`, end to end, as a user runs it: `world up` with two regions (iad, fra) and two
 * client cities (yyz near iad, ams near fra) at the matrix's distances; links measured against the
 * matrix; the hello image deployed with the CLI against the world to iad, then to fra too, and
 * each client, resolving the app's name through the world's GeoDNS, answered by the nearest region
 * with a machine; `world down` leaves no namespace, process, bridge, resolver file or mount.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { readRttMatrix } from '../src/world/mod.ts';
import { eventually, nearbyBin } from './helpers/nearby.ts';
import { freeWorld, pushHello, type WorldStatus } from './helpers/world.ts';

const run = promisify(execFile);

describe('a world of iad and fra, with clients in yyz and ams', { concurrency: false }, () => {
  let dir: string;
  let name: string;
  let world: WorldStatus;
  const nearby = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    run(nearbyBin, [...args, '--dir', dir], { env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  const cli = (args: string[]) =>
    run(nearbyBin, args, {
      env: { ...process.env, NEARBY_API_URL: world.api_url, NEARBY_API_TOKEN: world.token },
      maxBuffer: 16 << 20,
    });
  const fromClient = async (city: string, path = '/') => {
    const { stdout } = await run(nearbyBin, [
      ...['world', 'run', '--dir', dir, '--client', city, '--'],
      ...['curl', '-s', '--max-time', '20', `http://hello.${world.apps_domain}${path}`],
    ]);
    return stdout.trim();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nearby-world-'));
    const free = await freeWorld();
    name = free.name;
    const up = await nearby([
      ...['world', 'up', '--regions', 'iad,fra', '--clients', 'yyz,ams'],
      ...['--name', name, '--octet', String(free.octet)],
    ]);
    console.log(up.stdout);
    world = JSON.parse((await nearby(['world', 'status', '--json'])).stdout) as WorldStatus;
  });
  after(async () => {
    // Whatever happened above: the world goes, and so does its dir.
    await nearby(['world', 'down']).catch((error) => console.log(String(error)));
    await rm(dir, { recursive: true, force: true });
  });

  test('world up on an existing world says so', async () => {
    await assert.rejects(nearby(['world', 'up', '--regions', 'iad']), (error: { stderr: string }) => {
      assert.match(error.stderr, /a world already lives in/);
      assert.doesNotMatch(error.stderr, /at .*\.ts:\d+/, 'no stack trace');
      return true;
    });
  });

  test('an unknown city is refused with the cities the matrix knows', async () => {
    await assert.rejects(nearby(['world', 'up', '--regions', 'iad,xyz']), (error: { stderr: string }) => {
      assert.match(error.stderr, /unknown city 'xyz'/);
      return true;
    });
  });

  test('status shows the API, the registry, the apps domain, and links at least as long as the matrix says', () => {
    assert.match(world.api_url, /^http:\/\/10\.\d+\.\d+\.\d+:4280$/);
    assert.ok(world.token.length > 10);
    assert.match(world.registry, /^10\.\d+\.\d+\.\d+:5050$/);
    assert.equal(world.apps_domain, 'world.test');
    const matrix = readRttMatrix();
    assert.equal(world.links.length, 6, 'one link per pair of the four cities');
    for (const link of world.links) {
      assert.equal(link.matrix_rtt_ms, matrix.rtt(link.from, link.to).ms);
      console.log(
        `${link.from}-${link.to}: matrix ${link.matrix_rtt_ms} ms, ping min ${link.ping_min_ms} ms, tcp connect ${link.tcp_connect_ms ?? '-'} ms`,
      );
      assert.ok(
        (link.ping_min_ms ?? 0) >= link.matrix_rtt_ms,
        `${link.from}-${link.to}: ping ${link.ping_min_ms} ms`,
      );
      if (link.tcp_connect_ms !== undefined) assert.ok(link.tcp_connect_ms >= link.matrix_rtt_ms);
    }
  });

  test('the CLI works against the world, and each client is answered by the nearest region with a machine', async () => {
    await pushHello(world.registry, world.token);
    const env = (await nearby(['world', 'env'])).stdout;
    assert.equal(env.trim(), `export NEARBY_API_URL=${world.api_url} NEARBY_API_TOKEN=${world.token}`);
    await cli(['apps', 'create', 'hello']);
    assert.match((await cli(['apps', 'list'])).stdout, /hello/);
    const image = `${world.registry}/hello:1`;
    await cli(['machine', 'run', image, '-a', 'hello', '--region', 'iad', '-p', '8080']);
    for (const city of ['yyz', 'ams'])
      await eventually(
        async () => ((await fromClient(city)).match(/^hello from \S+ in iad$/) ? true : undefined),
        60_000,
        `${city} answered from iad, the only region with a machine`,
      );

    await cli(['machine', 'run', image, '-a', 'hello', '--region', 'fra', '-p', '8080']);
    await eventually(
      async () => ((await fromClient('ams')).endsWith(' in fra') ? true : undefined),
      60_000,
      'ams answered from fra once fra has a machine',
    );
    for (let i = 0; i < 3; i++) {
      assert.match(await fromClient('ams'), / in fra$/, 'ams: fra is nearest');
      assert.match(await fromClient('yyz'), / in iad$/, 'yyz: iad is nearest');
    }
    const dnsLog = readFileSync(join(dir, 'logs', 'dns-queries.log'), 'utf8');
    assert.match(dnsLog, /\(ams\) hello\.world\.test → fra/);
    assert.match(dnsLog, /\(yyz\) hello\.world\.test → iad/);
  });

  test('world down removes everything it made, and is safe to run twice', async () => {
    const namespaces = [
      ...world.hosts.map((host) => host.netns),
      ...world.clients.map((client) => client.netns),
    ];
    await nearby(['world', 'down']);
    const second = await nearby(['world', 'down']);
    assert.match(second.stdout, /nothing to remove/);
    const { stdout: left } = await run('ip', ['netns', 'list']);
    for (const netns of namespaces) {
      assert.ok(!left.includes(netns), `namespace ${netns} is gone`);
      assert.ok(!existsSync(join('/etc/netns', netns)), `/etc/netns/${netns} is gone`);
    }
    assert.ok(!existsSync(`/sys/class/net/nbw${name}`), 'the bridge is gone');
    const { stdout: processes } = await run('ps', ['-eo', 'args']);
    assert.ok(!processes.includes(dir), `no process runs from ${dir}:\n${processes}`);
    const network = world.api_url.replace(/^http:\/\/(10\.\d+)\..*$/, '$1.');
    for (const table of ['iptables-save', 'ip6tables-save']) {
      const { stdout: rules } = await run(table, []);
      assert.ok(!rules.includes(network) && !rules.includes(`nbw${name}`), `no ${table} rule of the world`);
    }
    const { stdout: mounts } = await run('mount', []);
    assert.ok(!mounts.includes(dir), 'no mount under the world dir');
    assert.ok(!existsSync(join(dir, 'world.json')));
  });
});
