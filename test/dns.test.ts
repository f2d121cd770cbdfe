/**
 * Names inside machines, end to end through a real `nearby server` (NATS store, runc machines):
 * `dig` run in machines' network namespaces asks the resolver their /etc/resolv.conf names. Two
 * orgs; each sees only its own apps; stopped machines are left out; TXT lists; a name outside
 * `.internal` is forwarded to an upstream this test runs. Machines "in iad and syd" are status
 * records of hosts written into the store by hand: the names are answered, not routed, here.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExecReply } from '../src/model/machine-request.ts';
import type { AppRecord, HostRecord, MachineView } from '../src/model/mod.ts';
import { keys } from '../src/model/mod.ts';
import { runCommand } from '../src/run-command.ts';
import { openStore, type Store } from '../src/store/mod.ts';
import { startTestUpstream, type TestUpstream } from './helpers/dns-upstream.ts';
import { helloImage } from './helpers/images.ts';
import { startNatsCluster } from './helpers/nats.ts';
import { type RunningNearby, startNearby } from './helpers/nearby.ts';
import { startRegistry } from './helpers/registry.ts';

interface Machine {
  app: string;
  id: string;
  ipv6: string;
}

interface Dig {
  status: string;
  answers: string[];
}

const FAR = [
  { host: 'dns-far-iad', region: 'iad', id: 'far0iad01', ipv6: 'fdaa:0:ff01::2' },
  { host: 'dns-far-syd', region: 'syd', id: 'far0syd01', ipv6: 'fdaa:0:ff02::2' },
];

describe('names inside machines', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let store: Store;
  let upstream: TestUpstream;
  let bridge: string;
  const machines: Record<string, Machine> = {};
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** The resolver the machine's /etc/resolv.conf names first, read inside the machine. */
  async function resolvConf(machine: Machine): Promise<string> {
    const { status, body } = await nearby.api<ExecReply>(
      'POST',
      `/v1/apps/${machine.app}/machines/${machine.id}/exec`,
      { command: ['/bin/cat', '/etc/resolv.conf'], timeout: 30 },
    );
    assert.equal(status, 200, JSON.stringify(body));
    return body.stdout;
  }

  /** `dig` in the machine's network namespace, at the server its resolv.conf names. */
  async function dig(from: Machine, name: string, type = 'AAAA', extra: string[] = []): Promise<Dig> {
    const server = /^nameserver\s+(\S+)/m.exec(await resolvConf(from))?.[1] ?? '';
    const result = await runCommand('ip', [
      ...['netns', 'exec', `${bridge}-${from.id}`, 'dig', `@${server}`, name, type],
      ...['+time=3', '+tries=2', '+noall', '+comments', '+answer', ...extra],
    ]);
    assert.equal(result.code, 0, `dig ${name}: ${result.stdout}${result.stderr}`);
    const status = /status: (\w+)/.exec(result.stdout)?.[1] ?? 'none';
    const answers = result.stdout
      .split('\n')
      .filter((line) => line && !line.startsWith(';'))
      .map((line) => line.split(/\s+/).slice(4).join(' ').replaceAll('" "', '').replaceAll('"', ''))
      .sort();
    return { status, answers };
  }

  async function startMachine(app: string, image: string): Promise<Machine> {
    const { body } = await nearby.api<MachineView>('POST', `/v1/apps/${app}/machines`, { config: { image } });
    const wait = await nearby.api('GET', `/v1/apps/${app}/machines/${body.id}/wait?state=started&timeout=60`);
    assert.equal(wait.status, 200, JSON.stringify(wait.body));
    return {
      app,
      id: body.id,
      ipv6: (await nearby.api<MachineView>('GET', `/v1/apps/${app}/machines/${body.id}`)).body.private_ip,
    };
  }

  before(async () => {
    const registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    upstream = await startTestUpstream({ 'outside.example': '192.0.2.44' });
    hooks.after(() => upstream.close());
    const nats = await startNatsCluster(hooks);
    nearby = await startNearby(hooks, {
      region: 'fra',
      args: ['--nats', nats.urls.join(','), '--dns-upstream', `127.0.0.1:${upstream.port}`],
    });
    store = await openStore({ nats: nats.urls });
    hooks.after(() => store.close());
    bridge = JSON.parse((await runCommand('cat', [`${nearby.dataDir}/server.json`])).stdout).bridge;
    for (const [app, org] of [
      ['acme-web', 'acme'],
      ['acme-api', 'acme'],
      ['rival-web', 'rival'],
    ]) {
      const created = await nearby.api('POST', '/v1/apps', { app_name: app, org_slug: org });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    machines.web = await startMachine('acme-web', image);
    machines.webStopped = await startMachine('acme-web', image);
    machines.api = await startMachine('acme-api', image);
    machines.rival = await startMachine('rival-web', image);
    const stop = await nearby.api('POST', `/v1/apps/acme-web/machines/${machines.webStopped.id}/stop`);
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    const stopped = await nearby.api(
      'GET',
      `/v1/apps/acme-web/machines/${machines.webStopped.id}/wait?state=stopped&timeout=60`,
    );
    assert.equal(stopped.status, 200, JSON.stringify(stopped.body));
    // Hosts in other regions with a started acme-web machine each, alive while the test runs.
    const beat = async () => {
      for (const far of FAR)
        await store.put(keys.host(far.host), {
          name: far.host,
          region: far.region,
          heartbeat_at: new Date().toISOString(),
        } as HostRecord);
    };
    await beat();
    const timer = setInterval(() => void beat().catch(() => {}), 1_000);
    hooks.after(async () => {
      clearInterval(timer);
      for (const far of FAR) {
        await store.delete(keys.machineStatus(far.host, far.id));
        await store.delete(keys.host(far.host));
      }
    });
    for (const far of FAR)
      await store.put(keys.machineStatus(far.host, far.id), {
        id: far.id,
        app: 'acme-web',
        instance_id: 'v1',
        state: 'started',
        seq: 1,
        private_ip: far.ipv6,
        restarts: 0,
        events: [],
        updated_at: new Date().toISOString(),
      });
    assert.ok((await store.get<AppRecord>(keys.app('acme-web')))?.value);
  });

  test("a machine's /etc/resolv.conf names the resolver on its host's bridge", async () => {
    const conf = await resolvConf(machines.web);
    const settings = JSON.parse((await runCommand('cat', [`${nearby.dataDir}/server.json`])).stdout);
    const gateway6 = `${settings.ipv6Cidr.split('::')[0]}::1`;
    assert.match(conf, new RegExp(`^nameserver ${gateway6}$`, 'm'));
    assert.match(conf, /^nameserver \d+\.\d+\.\d+\.1$/m);
  });

  test('<app>.internal: the started machines of every region, not the stopped one', async () => {
    assert.deepEqual(await dig(machines.api, 'acme-web.internal'), {
      status: 'NOERROR',
      answers: [machines.web.ipv6, ...FAR.map((far) => far.ipv6)].sort(),
    });
    // Over TCP too (the host guard opens port 53 on both).
    assert.deepEqual((await dig(machines.api, 'acme-web.internal', 'AAAA', ['+tcp'])).answers.length, 3);
  });

  test('<region>.<app>.internal, top<N>.nearest.of and <id>.vm', async () => {
    assert.deepEqual((await dig(machines.api, 'fra.acme-web.internal')).answers, [machines.web.ipv6]);
    assert.deepEqual((await dig(machines.api, 'syd.acme-web.internal')).answers, [FAR[1].ipv6]);
    // From fra: this host's machine, then iad (94 ms by the matrix), then syd (266 ms).
    assert.deepEqual((await dig(machines.api, 'top1.nearest.of.acme-web.internal')).answers, [
      machines.web.ipv6,
    ]);
    assert.deepEqual(
      (await dig(machines.api, 'top2.nearest.of.acme-web.internal')).answers,
      [machines.web.ipv6, FAR[0].ipv6].sort(),
    );
    assert.deepEqual((await dig(machines.api, `${machines.web.id}.vm.acme-web.internal`)).answers, [
      machines.web.ipv6,
    ]);
    assert.deepEqual(await dig(machines.api, `${machines.webStopped.id}.vm.acme-web.internal`), {
      status: 'NOERROR',
      answers: [],
    });
  });

  test('TXT: vms, regions and the org’s apps', async () => {
    assert.deepEqual((await dig(machines.api, 'vms.acme-web.internal', 'TXT')).answers, [
      [`${machines.web.id} fra`, `${FAR[0].id} iad`, `${FAR[1].id} syd`].sort().join(','),
    ]);
    assert.deepEqual((await dig(machines.api, 'regions.acme-web.internal', 'TXT')).answers, ['fra,iad,syd']);
    assert.deepEqual((await dig(machines.api, '_apps.internal', 'TXT')).answers, ['acme-api,acme-web']);
    assert.deepEqual((await dig(machines.rival, '_apps.internal', 'TXT')).answers, ['rival-web']);
  });

  test("each org sees only its own apps: another org's app is a name that does not exist", async () => {
    for (const name of ['rival-web.internal', 'fra.rival-web.internal', 'vms.rival-web.internal'])
      assert.deepEqual(
        await dig(machines.api, name, name.startsWith('vms') ? 'TXT' : 'AAAA'),
        await dig(
          machines.api,
          name.replace('rival-web', 'no-such-app'),
          name.startsWith('vms') ? 'TXT' : 'AAAA',
        ),
        name,
      );
    assert.equal((await dig(machines.api, 'rival-web.internal')).status, 'NXDOMAIN');
    assert.equal((await dig(machines.rival, 'acme-web.internal')).status, 'NXDOMAIN');
    assert.deepEqual((await dig(machines.rival, 'rival-web.internal')).answers, [machines.rival.ipv6]);
  });

  test('A for an internal name: no records; other names go to the upstream resolver', async () => {
    assert.deepEqual(await dig(machines.api, 'acme-web.internal', 'A'), { status: 'NOERROR', answers: [] });
    assert.deepEqual(await dig(machines.api, 'outside.example', 'A'), {
      status: 'NOERROR',
      answers: ['192.0.2.44'],
    });
    assert.ok(upstream.asked.some((question) => question.name === 'outside.example'));
    assert.ok(!upstream.asked.some((question) => question.name.endsWith('.internal')));
  });

  test('prints what a query costs, as dig inside a machine measures it (no assertion on time)', async () => {
    const server = /^nameserver\s+(\S+)/m.exec(await resolvConf(machines.api))?.[1] ?? '';
    const dir = await mkdtemp(join(tmpdir(), 'nearby-dns-bench-'));
    const perQuery = async (name: string, type: string) => {
      // 200 queries in one dig (-f): the per-query figure includes dig's own work.
      const file = join(dir, 'queries');
      await writeFile(file, `@${server} ${name} ${type} +short\n`.repeat(200));
      const started = performance.now();
      await runCommand('ip', ['netns', 'exec', `${bridge}-${machines.api.id}`, 'dig', '-f', file]);
      return Math.round(((performance.now() - started) * 1000) / 200);
    };
    console.log(`dns_internal_query_us=${await perQuery('acme-web.internal', 'AAAA')}`);
    console.log(`dns_nearest_query_us=${await perQuery('top2.nearest.of.acme-web.internal', 'AAAA')}`);
    console.log(`dns_forwarded_query_us=${await perQuery('outside.example', 'A')}`);
    await rm(dir, { recursive: true, force: true });
  });
});
