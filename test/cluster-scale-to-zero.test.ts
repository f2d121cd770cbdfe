/**
 * Scale to zero across hosts, end to end: NATS (three nodes), one `nearby api`, three hosts — two
 * in fra, one in syd — each `nearby node` in its own network namespace. Every proxy publishes its
 * own host's machine activity; one proxy per region (the holder of `leases/autostop/<region>`)
 * stops idle machines, each asked once; a request at a proxy whose app has only stopped machines
 * wakes the nearest one (its own region's, else another region's through the backhaul) and is
 * answered; killing the fra lease holder's node lets the other fra proxy take over.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { MachineActivityRecord, MachineView } from '../src/model/mod.ts';
import { buildImage } from '../src/oci/build.ts';
import { pushImage } from '../src/oci/push.ts';
import { leaseHolder } from '../src/store/lease.ts';
import { openStore, type Store } from '../src/store/mod.ts';
import { type ClusterHost, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { busyboxLayer, helloBinaryLayer, PATH_ENV } from './helpers/images.ts';
import { eventually } from './helpers/nearby.ts';

const run = promisify(execFile);

async function get(proxyUrl: string, app: string, path = '/') {
  const { stdout } = await run('curl', [
    ...['-s', '--max-time', '20', '-w', '\n%{http_code}', '-H', `Host: ${app}.localhost`],
    `${proxyUrl}${path}`,
  ]);
  const lines = stdout.trimEnd().split('\n');
  return { status: Number(lines.pop()), body: lines.join('\n').trim() };
}

/** An HTTP service that stops when idle and starts for requests, none kept running. */
const service = {
  protocol: 'tcp',
  internal_port: 8080,
  ports: [{ port: 80, handlers: ['http'] }],
  autostop: 'stop',
  autostart: true,
  min_machines_running: 0,
};

/** The JSON log lines of a host's node with this message about this machine. */
function logLines(host: ClusterHost, msg: string, machine: string) {
  return host
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{') && line.includes(machine))
    .map((line) => {
      try {
        return JSON.parse(line) as { msg?: string; machine?: string };
      } catch {
        return {};
      }
    })
    .filter((line) => line.msg === msg && line.machine === machine);
}

describe('scale to zero across hosts: one decider per region, wakes of the nearest', {
  concurrency: false,
}, () => {
  let cluster: RunningCluster;
  let store: Store;
  const cleanups: (() => unknown)[] = [];
  /** nap's machines: fra on the first host, fra on the second, syd. */
  const nap: { id: string; host: string; region: string }[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const machine = async (app: string, id: string) =>
    (await cluster.api<MachineView>('GET', `/v1/apps/${app}/machines/${id}`)).body;
  const inState = (app: string, id: string, state: string, ms = 120_000) =>
    eventually(
      async () => ((await machine(app, id)).state === state ? true : undefined),
      ms,
      `${app}'s machine ${id} ${state}`,
    );

  before(async () => {
    const fast = ['--autostop-interval', '300ms', '--autostop-idle', '3s', '--wake-timeout', '20s'];
    cluster = await startCluster(
      { after: (fn) => cleanups.push(fn) },
      {
        hosts: [
          { region: 'fra', args: fast },
          { region: 'fra', args: fast },
          { region: 'syd', args: fast },
        ],
      },
    );
    store = await openStore({ nats: cluster.nats.urls });
    cleanups.push(() => store.close());
    const built = await buildImage({
      layers: [await busyboxLayer(), await helloBinaryLayer()],
      config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
    });
    const push = {
      credentials: () => ({ username: 'x', password: cluster.token }),
      insecureRegistries: [cluster.registry],
    };
    for (const app of ['nap', 'faraway', 'both']) {
      const created = await cluster.api('POST', '/v1/apps', { app_name: app });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await pushImage(cluster.registry, app, '1', built, push);
    }
  });

  test('idle machines stop, each asked once, by the one decider of its region', async () => {
    // The scheduler takes the least loaded host of the region: one fra machine on each fra host.
    for (const region of ['fra', 'fra', 'syd']) {
      const created = await cluster.api<MachineView>('POST', '/v1/apps/nap/machines', {
        region,
        config: { image: `${cluster.registry}/nap:1`, services: [service] },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      nap.push({ id: created.body.id, host: created.body.nearby.host, region });
    }
    assert.deepEqual(
      nap.map((m) => m.host),
      cluster.hosts.map((host) => host.name),
      'one machine per host',
    );
    // Each is started, answers, then is left idle: autostop stops it.
    for (const { id } of nap) await inState('nap', id, 'started');
    for (const { id } of nap) await inState('nap', id, 'stopped', 60_000);

    const holders = new Map<string, string>();
    for (const region of ['fra', 'syd']) {
      const holder = await leaseHolder(store, `autostop/${region}`);
      assert.ok(holder, `leases/autostop/${region} is held`);
      holders.set(region, holder.split(':')[0]);
    }
    assert.ok(
      cluster.hosts.find((host) => host.name === holders.get('fra'))?.region === 'fra',
      'a fra proxy decides for fra',
    );
    assert.equal(holders.get('syd'), cluster.hosts[2].name);
    for (const { id, region } of nap) {
      const asked = cluster.hosts.map((host) => logLines(host, 'stopping idle machine', id).length);
      assert.equal(
        asked.reduce((a, b) => a + b, 0),
        1,
        `the stop of ${id} was asked once in all (per host: ${asked.join(', ')})`,
      );
      const decider = cluster.hosts.find((host) => logLines(host, 'stopping idle machine', id).length > 0);
      assert.equal(decider?.name, holders.get(region), `${id} was stopped by its region's lease holder`);
      const stops = (await machine('nap', id)).events.filter(
        (event) => event.type === 'stop' && event.request?.reason === 'idle',
      );
      assert.equal(stops.length, 1, `one idle stop event for ${id}`);
    }
    // Every proxy published its own host's machines under machine-activity/<region>/<host>.
    const records = (await store.list<MachineActivityRecord>('machine-activity/')).map(
      (entry) => entry.value,
    );
    for (const host of cluster.hosts) {
      const record = records.find((candidate) => candidate.host === host.name);
      assert.equal(record?.region, host.region, `machine-activity/${host.region}/${host.name}`);
    }
  });

  test("a request at syd's proxy wakes syd's own stopped machine; one for an app only in fra wakes fra's, through the backhaul", async (t) => {
    const syd = cluster.hosts[2];
    const own = nap[2];
    const localStarted = performance.now();
    const answer = await get(syd.proxyUrl, 'nap');
    // Figures for the report, not asserted: the whole request, wake included, as a client sees it.
    t.diagnostic(`wake_same_host_request_ms=${Math.round(performance.now() - localStarted)}`);
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.body, `hello from ${own.id} in syd`);
    for (const { id } of nap.slice(0, 2)) assert.equal((await machine('nap', id)).state, 'stopped');

    const created = await cluster.api<MachineView>('POST', '/v1/apps/faraway/machines', {
      region: 'fra',
      skip_launch: true,
      config: { image: `${cluster.registry}/faraway:1`, services: [service] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const id = created.body.id;
    await inState('faraway', id, 'stopped');
    // syd has no machine of faraway: the nearest region's is woken and the request crosses to it.
    const farStarted = performance.now();
    const far = await get(syd.proxyUrl, 'faraway');
    t.diagnostic(`wake_other_region_request_ms=${Math.round(performance.now() - farStarted)}`);
    assert.equal(far.status, 200, `${far.body}\n${syd.output().slice(-3000)}`);
    assert.equal(far.body, `hello from ${id} in fra`);
    const reasons = (await machine('faraway', id)).events.map(
      (event) => `${event.type}:${event.request?.reason ?? ''}`,
    );
    assert.ok(reasons.includes('start:request'), `started for a request: ${reasons.join(', ')}`);
    assert.equal(logLines(syd, 'waking machine for a request', id).length, 1, "syd's activator woke it");
    // Counted once: by the proxy of the machine's host (the request crossed its HAProxy), never by
    // syd's, whose slot for the remote machine is left out of its record.
    const machineHost = (await machine('faraway', id)).nearby.host;
    const activity = async (host: string) =>
      (await store.get<MachineActivityRecord>(`machine-activity/fra/${host}`))?.value ??
      (await store.get<MachineActivityRecord>(`machine-activity/syd/${host}`))?.value;
    await eventually(
      async () => ((await activity(machineHost))?.machines[id] !== undefined ? true : undefined),
      30_000,
      `${machineHost}'s record to name ${id}`,
    );
    assert.equal((await activity(syd.name))?.machines[id], undefined, "syd's record does not name it");
    // Left idle, it is stopped again by fra's decider, though the request came through syd.
    await inState('faraway', id, 'stopped', 60_000);
  });

  test("fra has only a stopped machine, syd a started one: fra's request is served by syd at once, and fra's decider wakes fra's for the next", async () => {
    const fra = cluster.hosts[0];
    // syd is the primary region and keeps one machine running.
    const config = (extra: object) => ({
      image: `${cluster.registry}/both:1`,
      env: { PRIMARY_REGION: 'syd' },
      services: [{ ...service, min_machines_running: 1 }],
      ...extra,
    });
    const inSyd = await cluster.api<MachineView>('POST', '/v1/apps/both/machines', {
      region: 'syd',
      config: config({}),
    });
    assert.equal(inSyd.status, 200, JSON.stringify(inSyd.body));
    const inFra = await cluster.api<MachineView>('POST', '/v1/apps/both/machines', {
      region: 'fra',
      skip_launch: true,
      config: config({}),
    });
    assert.equal(inFra.status, 200, JSON.stringify(inFra.body));
    await inState('both', inSyd.body.id, 'started');
    await inState('both', inFra.body.id, 'stopped');
    const syd = cluster.hosts[2];
    const sydSaw = async () => {
      const record = await store.get<MachineActivityRecord>(`machine-activity/syd/${syd.name}`);
      const seen = record?.value.machines[inSyd.body.id];
      return seen === undefined ? undefined : Date.parse(seen.last_active_at);
    };
    const direct = Date.now();
    assert.equal((await get(syd.proxyUrl, 'both')).body, `hello from ${inSyd.body.id} in syd`);
    await eventually(
      async () => ((await sydSaw()) ?? 0) >= direct || undefined,
      30_000,
      "syd's record to show the request at syd",
    );
    // From here on only fra's requests reach syd's machine: through syd's proxy, on the backhaul.
    const fromFra = Date.now();
    const first = await eventually(
      async () => {
        const reply = await get(fra.proxyUrl, 'both');
        return reply.status === 200 ? reply : undefined;
      },
      30_000,
      "fra's proxy answered for both",
    );
    assert.equal(
      first.body,
      `hello from ${inSyd.body.id} in syd`,
      'not held for a wake: served where a machine runs',
    );
    await eventually(
      async () => ((await sydSaw()) ?? 0) >= fromFra || undefined,
      30_000,
      "syd's record to count fra's request: syd's proxy saw it cross its HAProxy",
    );
    for (const host of cluster.hosts.slice(0, 2)) {
      const record = await store.get<MachineActivityRecord>(`machine-activity/fra/${host.name}`);
      assert.equal(record?.value.machines[inSyd.body.id], undefined, `${host.name} does not count it again`);
    }
    const local = await eventually(
      async () => {
        const reply = await get(fra.proxyUrl, 'both');
        return reply.body === `hello from ${inFra.body.id} in fra` ? reply : undefined;
      },
      60_000,
      "fra's own machine woken and answering fra's requests",
    );
    assert.equal(local.status, 200);
    const reasons = (await machine('both', inFra.body.id)).events.map(
      (event) => `${event.type}:${event.request?.reason ?? ''}`,
    );
    assert.ok(reasons.includes('start:request'), `started for requests: ${reasons.join(', ')}`);
    const holder = (await leaseHolder(store, 'autostop/fra'))?.split(':')[0];
    const decider = cluster.hosts.find((host) => host.name === holder) as ClusterHost;
    assert.equal(
      logLines(decider, "starting a machine: the region's requests went to another region", inFra.body.id)
        .length,
      1,
      "fra's decider asked for it once",
    );
    // Idle again, fra's goes back to zero; syd's primary-region minimum keeps syd's running.
    await inState('both', inFra.body.id, 'stopped', 60_000);
    assert.equal((await machine('both', inSyd.body.id)).state, 'started');
  });

  test("the fra lease holder's node killed: the other fra proxy takes over and stops idle machines", async (t) => {
    const holderName = (await leaseHolder(store, 'autostop/fra'))?.split(':')[0];
    const holder = cluster.hosts.find((host) => host.name === holderName);
    assert.ok(holder, `a fra host holds leases/autostop/fra (${holderName})`);
    const other = cluster.hosts.find((host) => host.region === 'fra' && host !== holder) as ClusterHost;
    const killedAt = performance.now();
    await holder.kill();
    // A killed holder's lease lapses after its TTL (15 s); the other fra proxy takes it then.
    await eventually(
      async () =>
        (await leaseHolder(store, 'autostop/fra'))?.startsWith(`${other.name}:`) ? true : undefined,
      40_000,
      `${other.name} to hold leases/autostop/fra`,
    );
    t.diagnostic(`lease_takeover_after_kill_ms=${Math.round(performance.now() - killedAt)}`);
    // The survivor's own machine, woken by a request at its proxy, is stopped by it when idle.
    const mine = nap.find((m) => m.host === other.name) as (typeof nap)[number];
    const answer = await get(other.proxyUrl, 'nap');
    assert.equal(answer.status, 200, answer.body);
    assert.equal(answer.body, `hello from ${mine.id} in fra`);
    const before = logLines(other, 'stopping idle machine', mine.id).length;
    await inState('nap', mine.id, 'stopped', 60_000);
    assert.equal(logLines(other, 'stopping idle machine', mine.id).length, before + 1);
    // Back again: it waits for the lease, held by the other now.
    await holder.start();
    assert.ok((await leaseHolder(store, 'autostop/fra'))?.startsWith(`${other.name}:`));
  });
});
