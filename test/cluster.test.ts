/**
 * nearby as a cluster, end to end: NATS (three nodes), one `nearby api`, two hosts in two regions
 * (fra, syd), each `nearby node` in its own network namespace. Hosts register and heartbeat, get
 * subnets of their own, pull the app's image from nearby's registry and its secrets from the API
 * (host token), answer through their own proxy, reach another host's machines through its proxy
 * (the backhaul of `--backhaul-*`), wake a stopped machine through the API, and a host killed
 * with -9 is reported down.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { HostRecord, MachineView, ProxyRecord } from '../src/model/mod.ts';
import { buildImage } from '../src/oci/build.ts';
import { pushImage } from '../src/oci/push.ts';
import { openStore, type Store } from '../src/store/mod.ts';
import { type RunningCluster, startCluster } from './helpers/cluster.ts';
import { busyboxLayer, helloBinaryLayer, PATH_ENV } from './helpers/images.ts';
import { eventually } from './helpers/nearby.ts';

const run = promisify(execFile);

async function get(proxyUrl: string, app: string, path = '/') {
  const { stdout } = await run('curl', [
    '-s',
    '--max-time',
    '20',
    '-w',
    '\n%{http_code}',
    '-H',
    `Host: ${app}.localhost`,
    `${proxyUrl}${path}`,
  ]);
  const lines = stdout.trimEnd().split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n').trim() };
}

const service = { protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] };

describe('a cluster of two hosts in two regions', { concurrency: false }, () => {
  let cluster: RunningCluster;
  let store: Store;
  let image: string;
  const cleanups: (() => unknown)[] = [];
  const machineIn: Record<string, string> = {};
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    cluster = await startCluster(
      { after: (fn) => cleanups.push(fn) },
      {
        hosts: [
          { region: 'fra', args: ['--memory', '2048', '--cpus', '2', '--max-machines', '20'] },
          { region: 'syd' },
        ],
      },
    );
    store = await openStore({ nats: cluster.nats.urls });
    cleanups.push(() => store.close());
    for (const app of ['hello', 'sleepy', 'far']) {
      const created = await cluster.api('POST', '/v1/apps', { app_name: app });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    // Pushed to nearby's registry (the API's); each host pulls it with its token.
    const built = await buildImage({
      layers: [await busyboxLayer(), await helloBinaryLayer()],
      config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
    });
    const push = {
      credentials: () => ({ username: 'x', password: cluster.token }),
      insecureRegistries: [cluster.registry],
    };
    for (const app of ['hello', 'sleepy', 'far']) await pushImage(cluster.registry, app, '1', built, push);
    image = `${cluster.registry}/hello:1`;
  });

  test('both hosts are registered with region, address, version, own subnets, and heartbeat', async () => {
    const first = await store.list<HostRecord>('hosts/');
    const byName = new Map(first.map((entry) => [entry.value.name, entry.value]));
    for (const host of cluster.hosts) {
      const record = byName.get(host.name);
      assert.ok(record, `hosts/${host.name} is in the store`);
      assert.equal(record.region, host.region);
      assert.equal(record.address, host.address);
      assert.match(record.version ?? '', /^\d+\.\d+\.\d+/);
      assert.match(record.subnet4 ?? '', /^172\.20\.\d+\.0\/24$/);
      assert.match(record.subnet6 ?? '', /^fdaa:0:100:[0-9a-f]*:*\/64$/);
    }
    const [fra, syd] = cluster.hosts.map((host) => byName.get(host.name) as HostRecord);
    assert.deepEqual([fra.memory_mb, fra.cpus, fra.max_machines], [2048, 2, 20], 'capacity as given');
    assert.ok(
      syd.memory_mb > 0 && syd.cpus > 0 && syd.max_machines === undefined,
      "the whole host's, no cap",
    );
    assert.notEqual(fra.subnet4, syd.subnet4);
    assert.notEqual(fra.subnet6, syd.subnet6);
    await eventually(
      async () => {
        const now = await store.get<HostRecord>(`hosts/${cluster.hosts[0].name}`);
        return now && now.value.heartbeat_at !== fra.heartbeat_at ? true : undefined;
      },
      10_000,
      'a second heartbeat',
    );
  });

  test("machines in both regions pull from nearby's registry, get their secrets, and each host's proxy answers for its own", async () => {
    // Hosts hold no secrets key: their agents ask the API for the values with their host token.
    const secret = await cluster.api('POST', '/v1/apps/hello/secrets', {
      values: { GREETING: 'sealed-by-the-api' },
    });
    assert.equal(secret.status, 200, JSON.stringify(secret.body));
    for (const host of cluster.hosts) {
      const created = await cluster.api<MachineView>('POST', '/v1/apps/hello/machines', {
        region: host.region,
        config: { image, services: [service] },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      assert.equal(created.body.nearby.host, host.name);
      machineIn[host.region] = created.body.id;
    }
    for (const host of cluster.hosts) {
      const id = machineIn[host.region];
      await eventually(
        async () => {
          const { body } = await cluster.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
          return body.state === 'started' ? true : undefined;
        },
        120_000,
        `the machine in ${host.region} started (${host.output().slice(-2000)})`,
      );
      // A proxy with a machine of the app on its own host routes there first.
      const answer = await eventually(
        async () => {
          const reply = await get(host.proxyUrl, 'hello');
          return reply.body === `hello from ${id} in ${host.region}` ? reply : undefined;
        },
        30_000,
        `${host.name}'s proxy answered by its machine`,
      );
      assert.equal(answer.status, 200);
      const env = await eventually(
        async () => {
          const reply = await get(host.proxyUrl, 'hello', '/env');
          return reply.body.includes(`FLY_MACHINE_ID=${id}`) ? reply.body : undefined;
        },
        30_000,
        `${host.name}'s machine's environment`,
      );
      assert.match(env, /^GREETING=sealed-by-the-api$/m);
    }
  });

  test("a request through one host's proxy reaches a machine on another host through the backhaul", async () => {
    const [fra, syd] = cluster.hosts;
    const created = await cluster.api<MachineView>('POST', '/v1/apps/far/machines', {
      region: 'syd',
      config: { image: `${cluster.registry}/far:1`, services: [service] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id;
    await eventually(
      async () => {
        const { body } = await cluster.api<MachineView>('GET', `/v1/apps/far/machines/${id}`);
        return body.state === 'started' ? true : undefined;
      },
      120_000,
      `far's machine in syd started (${syd.output().slice(-2000)})`,
    );
    // Each proxy is in the store under its host's name, with the backhaul address given.
    const proxies = (await store.list<ProxyRecord>('proxies/')).map((entry) => entry.value);
    assert.deepEqual(
      proxies.map((record) => [record.host, record.region, record.backhaul]).sort(),
      cluster.hosts.map((host) => [host.name, host.region, host.backhaul]).sort(),
    );
    // fra has no machine of far (and no route to syd's machine subnet): syd's proxy carries it.
    const answer = await eventually(
      async () => {
        const reply = await get(fra.proxyUrl, 'far');
        return reply.body === `hello from ${id} in syd` ? reply : undefined;
      },
      30_000,
      `fra's proxy answered by the machine in syd (${fra.output().slice(-2000)})`,
    );
    assert.equal(answer.status, 200);
    const headers = (await get(fra.proxyUrl, 'far', '/headers')).body;
    // Each hop adds its own: fra's frontend, then syd's backhaul.
    const via = headers
      .split(/\r?\n/)
      .filter((line) => /^via:/i.test(line))
      .map((line) => line.slice(4).trim())
      .join(', ');
    assert.equal(via, `1.1 ${fra.name}, 1.1 ${syd.name}`, headers);
    assert.match(headers, /^fly-region: syd\s*$/im, headers);
  });

  test('a stopped machine is woken by a request through its proxy, which asks the API', async () => {
    const [fra] = cluster.hosts;
    const created = await cluster.api<MachineView>('POST', '/v1/apps/sleepy/machines', {
      region: 'fra',
      skip_launch: true,
      config: { image: `${cluster.registry}/sleepy:1`, services: [{ ...service, autostart: true }] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id;
    await eventually(
      async () => {
        const { body } = await cluster.api<MachineView>('GET', `/v1/apps/sleepy/machines/${id}`);
        return body.state === 'stopped' ? true : undefined;
      },
      120_000,
      'the sleepy machine prepared and stopped',
    );
    const answer = await eventually(
      async () => {
        const reply = await get(fra.proxyUrl, 'sleepy');
        return reply.status === 200 ? reply : undefined;
      },
      60_000,
      'sleepy answered',
    );
    assert.equal(answer.body, `hello from ${id} in fra`);
    const { body } = await cluster.api<MachineView>('GET', `/v1/apps/sleepy/machines/${id}`);
    const reasons = body.events.map((event) => `${event.type}:${event.request?.reason ?? ''}`);
    assert.ok(reasons.includes('start:request'), `started for a request: ${reasons.join(', ')}`);
  });

  test("a console reaches a machine on another host by the API's grant; without one the agent refuses", async () => {
    const syd = cluster.hosts[1];
    const id = machineIn.syd;
    const run = await cluster.cli([
      'ssh',
      'console',
      '-a',
      'hello',
      '--machine',
      id,
      '-C',
      "sh -c 'echo console-in-$FLY_REGION'",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /console-in-syd/);

    // Anyone else reaching the agent's console port gets nothing without a grant.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(4281, syd.address);
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write(
        `${JSON.stringify({ machine: id, command: ['/bin/sh'], tty: false, grant: 'guessed' })}\n`,
      );
    });
    assert.match(answer, /"code":"CONSOLE_NOT_GRANTED"/);
  });

  test("kill -9 of a host's nearby node makes its machines unreachable within seconds; back, they are ok", async (t) => {
    const syd = cluster.hosts[1];
    const id = machineIn.syd;
    await syd.kill();
    const killedAt = Date.now();
    await eventually(
      async () => {
        const { body } = await cluster.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
        return body.host_status === 'unreachable' ? true : undefined;
      },
      20_000,
      "the syd machine's host_status to be unreachable",
    );
    t.diagnostic(`host_down_detected_ms=${Date.now() - killedAt}`);
    const fraMachine = await cluster.api<MachineView>('GET', `/v1/apps/hello/machines/${machineIn.fra}`);
    assert.equal(fraMachine.body.host_status, 'ok');
    await syd.start();
    await eventually(
      async () => {
        const { body } = await cluster.api<MachineView>('GET', `/v1/apps/hello/machines/${id}`);
        return body.host_status === 'ok' && body.state === 'started' ? true : undefined;
      },
      30_000,
      'the syd machine back, ok and started',
    );
  });
});
