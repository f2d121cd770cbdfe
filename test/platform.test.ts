/**
 * Regions and hosts, end to end on one `nearby server` (one host, one region): `nearby platform
 * hosts|regions` and their API, and the scheduler's refusals as the CLI shows them (`machine run
 * --region`, `scale count --region`, a machine too big for any host). Real registry, crun.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HostView, RegionView } from '../src/api/platform-inventory.ts';
import type { MachineView } from '../src/model/mod.ts';
import { nearbyVersion } from '../src/version.ts';
import { helloImage } from './helpers/images.ts';
import { type RunningNearby, startNearby } from './helpers/nearby.ts';
import { startRegistry } from './helpers/registry.ts';

describe('platform regions and hosts, placement by region', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let dir: string;
  let image: string;
  const app = 'places';
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    const registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks, { region: 'fra' });
    dir = await mkdtemp(join(tmpdir(), 'nearby-platform-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const created = await nearby.api('POST', '/v1/apps', { app_name: app });
    assert.equal(created.status, 201, JSON.stringify(created.body));
  });

  const cli = (args: string[]) => nearby.cli([...args, '-a', app], { cwd: dir, timeoutMs: 120_000 });
  const platform = (args: string[]) => nearby.cli(['platform', ...args], { cwd: dir });
  const machines = async () => (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
  const hostsJson = async () => JSON.parse((await platform(['hosts', '--json'])).stdout) as HostView[];

  test('platform hosts lists this host: region, health, capacity and what is used, heartbeat, version', async () => {
    const hosts = await hostsJson();
    assert.equal(hosts.length, 1);
    const [host] = hosts;
    assert.equal(host.region, 'fra');
    assert.equal(host.status, 'up');
    assert.ok(host.capacity.memory_mb > 0 && host.capacity.cpus > 0, JSON.stringify(host));
    assert.deepEqual(host.used, { memory_mb: 0, cpus: 0, machines: 0 });
    assert.equal(host.machines, 0);
    assert.ok(host.heartbeat_age_s < 60, 'a fresh heartbeat');
    const table = await platform(['hosts']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /^HOST\s+REGION\s+HEALTH\s+ADDRESS\s+MEMORY MB\s+CPUS\s+MACHINES\s+STARTED\s+HEARTBEAT/,
    );
    const row = new RegExp(
      `^${host.name}\\s+fra\\s+up\\s+\\S+\\s+0/${host.capacity.memory_mb}\\s+0/${host.capacity.cpus}\\s+0/${host.capacity.machines}\\s+0\\s+\\d+s ago`,
      'm',
    );
    assert.match(table.stdout, row);
    if (host.version) assert.equal(host.version, nearbyVersion);
  });

  test('machine run --region places a machine there; a region without a host is refused with the regions that exist', async () => {
    const elsewhere = await cli(['machine', 'run', image, '--region', 'syd', '--detach']);
    assert.equal(elsewhere.code, 1);
    assert.match(elsewhere.stderr, /^Error: no host in region 'syd'; regions with hosts: fra$/m);
    assert.match(elsewhere.stderr, /^Hint: pass --region fra .*nearby agent --region syd/m);
    assert.doesNotMatch(elsewhere.stderr, /\n\s+at /, 'no stack trace');

    const placed = await cli(['machine', 'run', image, '--region', 'fra', '--memory', '512']);
    assert.equal(placed.code, 0, `${placed.stdout}\n${placed.stderr}`);
    assert.match(placed.stdout, /created in fra/);
    const [machine] = await machines();
    assert.equal(machine.region, 'fra');
  });

  test('platform hosts and regions count the machine; the scheduler refuses one no host has room for', async () => {
    const [host] = await hostsJson();
    assert.equal(host.machines, 1);
    assert.equal(host.started, 1);
    assert.equal(host.used.memory_mb, 512);
    assert.equal(host.used.cpus, 0.13, 'one shared vCPU takes 1/8 of a core (rounded to the hundredth)');

    const regions = await platform(['regions', '--json']);
    assert.equal(regions.code, 0, regions.stderr);
    const [region] = JSON.parse(regions.stdout) as RegionView[];
    assert.equal(region.name, 'fra');
    assert.equal(region.hosts, 1);
    assert.equal(region.hosts_up, 1);
    assert.equal(region.machines, 1);
    assert.deepEqual(region.capacity, host.capacity);
    const table = await platform(['regions']);
    assert.match(table.stdout, /^REGION\s+HOSTS UP\s+MEMORY MB\s+CPUS\s+MACHINES\s+STARTED$/m);
    assert.match(
      table.stdout,
      new RegExp(`^fra\\s+1/1\\s+512/${host.capacity.memory_mb}\\s+0.13/\\d+\\s+1/\\d+\\s+1$`, 'm'),
    );

    const tooBig = host.capacity.memory_mb * 2;
    const refused = await cli(['machine', 'run', image, '--memory', String(tooBig), '--detach']);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(
        `^Error: no host in region 'fra' has room for a machine of 1 shared vCPU and ${tooBig} MB: ${host.name} is short of memory`,
        'm',
      ),
    );
    assert.match(refused.stderr, /^Hint: pick a smaller size/m);
    assert.equal((await machines()).length, 1, 'nothing was created');
  });

  test('scale count --region refuses a region with no host before creating anything', async () => {
    const spread = await cli(['scale', 'count', '3', '--region', 'fra,syd,iad']);
    assert.equal(spread.code, 1);
    assert.match(
      spread.stderr,
      /^Error: --region: no host is up in regions 'syd', 'iad'; regions with hosts up: fra$/m,
    );
    assert.match(spread.stderr, /^Hint: .*nearby platform regions/m);
    assert.equal((await machines()).length, 1, 'nothing was created');
    const here = await cli(['scale', 'count', '2', '--region', 'fra']);
    assert.equal(here.code, 0, `${here.stdout}\n${here.stderr}`);
    assert.match(here.stdout, /Group app in fra: 1 → 2/);
    assert.deepEqual(
      (await machines()).map((m) => m.region),
      ['fra', 'fra'],
    );
  });

  test('deploy refuses a primary_region with no host before building', async () => {
    await writeFile(
      join(dir, 'nearby.toml'),
      `app = "${app}"\nprimary_region = "syd"\n\n[build]\n  image = "${image}"\n\n[http_service]\n  internal_port = 8080\n`,
    );
    const deployed = await nearby.cli(['deploy'], { cwd: dir });
    assert.equal(deployed.code, 1);
    assert.match(
      deployed.stderr,
      /^Error: primary_region: no host is up in region 'syd'; regions with hosts up: fra$/m,
    );
  });

  test('only the admin token lists hosts and regions', async () => {
    const made = await nearby.api<{ token: string }>('POST', '/v1/tokens', { name: 'tenant' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    for (const path of ['/v1/platform/hosts', '/v1/platform/regions']) {
      const answer = await fetch(`${nearby.apiUrl}${path}`, {
        headers: { authorization: `Bearer ${made.body.token}` },
      });
      assert.equal(answer.status, 403, path);
      assert.equal(((await answer.json()) as { code: string }).code, 'FORBIDDEN');
    }
  });
});
