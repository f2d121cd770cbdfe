/**
 * The fault proof of the cluster: three NATS nodes, one `nearby api`, three hosts in two regions
 * (h1 in fra, h2 and h3 in syd), each running `nearby agent` and `nearby proxy` as two processes in
 * its own network namespace. The app `chaos` has a machine on h2 and one on h3; h1 has none, so its
 * proxy reaches both through their hosts' backhauls. Under steady requests (through h1's proxy on a
 * kept-alive connection and on fresh ones, and through h2's) and a writer making API writes, it
 * kills -9 and restarts in turn the NATS node leading the store's stream, h2's agent, h1's proxy and
 * the whole of h3. Counted per fault: requests answered, failed, retried by HAProxy; then every
 * acknowledged write is there, at least 99.9 % of requests were answered, and everything
 * converges. No timing is asserted.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { MachineView } from '../src/model/mod.ts';
import { buildImage } from '../src/oci/build.ts';
import { pushImage } from '../src/oci/push.ts';
import { proxyPaths } from '../src/proxy/haproxy-config.ts';
import { StoreConnection } from '../src/store/nats/connection.ts';
import { type ClusterHost, type RunningCluster, startCluster } from './helpers/cluster.ts';
import { busyboxLayer, helloBinaryLayer, PATH_ENV } from './helpers/images.ts';
import { missingWrites, type ProxyLoad, proxyLoad, startWriter } from './helpers/load.ts';
import { eventually } from './helpers/nearby.ts';

const service = { protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] };
/** How long each fault lasts before the part is started again (the load runs throughout). */
const FAULT_MS = 4000;

/** GET / with these headers (fetch cannot set Host). */
function get(
  url: string,
  headers: Record<string, string>,
  path = '/',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers, agent: false, timeout: 15_000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Access-log lines whose request HAProxy tried again (`retries` not 0), from every proxy: HAProxy's
 * `wretr`/`wredis` would reset at each reload, the access log does not.
 */
function retriedRequests(cluster: RunningCluster) {
  const seen: { time: number; line: string }[] = [];
  for (const host of cluster.hosts) {
    host.proxy.onLine((line) => {
      if (!line.includes('"component":"access"')) return;
      const match = /"time":(\d+).*"retries":"\+?(\d+)"/.exec(line);
      if (match && Number(match[2]) > 0) seen.push({ time: Number(match[1]), line });
    });
  }
  return { since: (time: number) => seen.filter((entry) => entry.time >= time).map((entry) => entry.line) };
}

describe('chaos: kill -9 and restart a NATS node, an agent, a proxy and a whole host under load', {
  concurrency: false,
}, () => {
  let cluster: RunningCluster;
  let h1: ClusterHost;
  let h2: ClusterHost;
  let h3: ClusterHost;
  const machineOn: Record<string, string> = {};
  let loads: ProxyLoad[] = [];
  let writer: ReturnType<typeof startWriter> | undefined;
  let retries: ReturnType<typeof retriedRequests>;
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const load of loads) await load.stop();
    await writer?.stop();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const machine = async (id: string) =>
    (await cluster.api<MachineView>('GET', `/v1/apps/chaos/machines/${id}`)).body;
  const startedAndOk = (id: string, what: string) =>
    eventually(
      async () => {
        const view = await machine(id);
        return view.state === 'started' && view.host_status === 'ok' ? view : undefined;
      },
      120_000,
      what,
    );

  before(async () => {
    cluster = await startCluster(
      { after: (fn) => cleanups.push(fn) },
      { split: true, hosts: [{ region: 'fra' }, { region: 'syd' }, { region: 'syd' }] },
    );
    [h1, h2, h3] = cluster.hosts;
    retries = retriedRequests(cluster);
    for (const app of ['chaos', 'ledger']) {
      const created = await cluster.api('POST', '/v1/apps', { app_name: app });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
    const built = await buildImage({
      layers: [await busyboxLayer(), await helloBinaryLayer()],
      config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
    });
    await pushImage(cluster.registry, 'chaos', '1', built, {
      credentials: () => ({ username: 'x', password: cluster.token }),
      insecureRegistries: [cluster.registry],
    });
    // Two machines in syd: the scheduler puts them on its two hosts (least loaded first).
    for (let i = 0; i < 2; i++) {
      const created = await cluster.api<MachineView>('POST', '/v1/apps/chaos/machines', {
        region: 'syd',
        config: { image: `${cluster.registry}/chaos:1`, services: [service] },
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      machineOn[created.body.nearby.host] = created.body.id;
    }
    assert.deepEqual(Object.keys(machineOn).sort(), [h2.name, h3.name], 'one machine on each syd host');
    for (const id of Object.values(machineOn)) await startedAndOk(id, `machine ${id} started`);
  });

  /** Until h1's proxy answers from both machines (through the backhauls) and h2's from its own. */
  const routesEverywhere = async () => {
    for (const id of Object.values(machineOn)) {
      for (const host of cluster.hosts) {
        // Each proxy reaches each machine when asked for it by id, from wherever it runs.
        await eventually(
          async () => {
            const response = await get(host.proxyUrl, {
              host: 'chaos.localhost',
              'fly-force-instance-id': id,
            });
            const body = response.body;
            if (!body.startsWith(`hello from ${id} `))
              throw new Error(`${response.status} ${body.slice(0, 300)}`);
            return true;
          },
          60_000,
          `${host.name}'s proxy routes to ${id}`,
        );
      }
    }
  };

  test('deployed across hosts: every proxy routes to every machine; load and writer start', async () => {
    await routesEverywhere();
    loads = [
      proxyLoad(`${h1.name} keep-alive`, h1.proxyUrl, 'chaos.localhost', { keepAlive: true }),
      proxyLoad(`${h1.name} fresh connections`, h1.proxyUrl, 'chaos.localhost', { keepAlive: false }),
      proxyLoad(`${h2.name} keep-alive`, h2.proxyUrl, 'chaos.localhost', { keepAlive: true }),
    ];
    writer = startWriter(cluster);
    // h1 has no machine of chaos: its load is spread over h2's and h3's, across the backhaul.
    await eventually(
      async () => {
        const seen = loads[0].byMachine;
        return Object.values(machineOn).every((id) => (seen.get(id) ?? 0) > 0) ? true : undefined;
      },
      30_000,
      `h1's load answered by both machines`,
    );
  });

  /** Runs a fault under load and prints its figures. */
  async function underLoad(
    t: { diagnostic(message: string): void },
    fault: string,
    body: () => Promise<void>,
  ) {
    const before = loads.map((load) => ({ ok: load.ok, failed: load.failures.length }));
    const acknowledged = (writer?.secrets.length ?? 0) + (writer?.apps.length ?? 0);
    const since = Date.now();
    await body();
    let answered = 0;
    let failed = 0;
    for (const [index, load] of loads.entries()) {
      const ok = load.ok - before[index].ok;
      const lost = load.failures.slice(before[index].failed);
      answered += ok;
      failed += lost.length;
      t.diagnostic(
        `chaos ${fault}: ${load.name}: answered=${ok} failed=${lost.length}${lost.length ? ` (${lost.slice(0, 3).join('; ')})` : ''}`,
      );
    }
    const retried = retries.since(since).length;
    const writes = (writer?.secrets.length ?? 0) + (writer?.apps.length ?? 0) - acknowledged;
    t.diagnostic(
      `chaos_${fault}: answered=${answered} failed=${failed} retried=${retried} writes_acknowledged=${writes}`,
    );
  }

  test("kill -9 the NATS node that leads the store's stream, then start it again", async (t) => {
    // The harshest node to lose: the stream elects another leader before it takes writes again.
    const conn = await StoreConnection.open({ servers: cluster.nats.urls });
    const leader = (await conn.jsm.streams.info('KV_nearby_state').finally(() => conn.close())).cluster
      ?.leader;
    const victim = Number(/^n(\d+)$/.exec(leader ?? '')?.[1] ?? 1) - 1;
    t.diagnostic(`chaos nats_node: killing ${leader} (the stream's leader)`);
    await underLoad(t, 'nats_node', async () => {
      await cluster.nats.kill(victim);
      await delay(FAULT_MS);
      await cluster.nats.start(victim);
      await cluster.nats.ready();
      // Writes are acknowledged again once it is back.
      const count = writer?.secrets.length ?? 0;
      await eventually(async () => ((writer?.secrets.length ?? 0) > count + 2 ? true : undefined), 60_000);
    });
  });

  test('kill -9 an agent: its machine keeps answering; started again, it adopts it', async (t) => {
    const id = machineOn[h2.name];
    const startsBefore = (await machine(id)).events.filter((event) => event.type === 'start').length;
    await underLoad(t, 'agent', async () => {
      await h2.agent.kill();
      await delay(FAULT_MS);
      await h2.agent.start();
      await startedAndOk(id, `h2's machine ok after its agent restarted (${h2.agent.output().slice(-2000)})`);
    });
    const view = await machine(id);
    assert.equal(
      view.events.filter((event) => event.type === 'start').length,
      startsBefore,
      'adopted, not started again',
    );
  });

  test('kill -9 a proxy: HAProxy keeps serving; started again, the proxy adopts it', async (t) => {
    const pidFile = proxyPaths(h1.dataDir).pidFile;
    const haproxy = (await readFile(pidFile, 'utf8')).trim();
    await underLoad(t, 'proxy', async () => {
      await h1.proxy.kill();
      await delay(FAULT_MS);
      await h1.proxy.start();
      await routesEverywhere();
    });
    assert.equal((await readFile(pidFile, 'utf8')).trim(), haproxy, 'the same HAProxy, adopted');
  });

  test('a whole host dies: the other hosts answer; back, it converges', async (t) => {
    const id = machineOn[h3.name];
    const since = Date.now();
    let midFlight: { status: number; body: string }[] = [];
    await underLoad(t, 'host', async () => {
      // Requests in flight when the host dies: slow GETs through h1, spread over h2's and h3's
      // machines (leastconn); those on h3 are cut and HAProxy retries them on h2.
      const slow = Array.from({ length: 6 }, () =>
        get(h1.proxyUrl, { host: 'chaos.localhost' }, '/sleep?ms=3000').catch((error: Error) => ({
          status: 0,
          body: error.message,
        })),
      );
      await delay(1000);
      await h3.crash();
      midFlight = await Promise.all(slow);
      await eventually(
        async () => ((await machine(id)).host_status === 'unreachable' ? true : undefined),
        30_000,
        "h3's machine reported unreachable",
      );
      await delay(FAULT_MS);
      await h3.start();
      await startedAndOk(id, `h3's machine back (${h3.output().slice(-3000)})`);
      await routesEverywhere();
    });
    // Those cut on h3 were tried again on h2's machine (`+1`: redispatched).
    const retried = retries.since(since).filter((line) => line.includes('/sleep')).length;
    const answered = midFlight.filter(
      (reply) => reply.status === 200 && reply.body.startsWith('slept'),
    ).length;
    t.diagnostic(
      `chaos_host_midflight: answered=${answered}/${midFlight.length} retried_on_another_machine=${retried}`,
    );
    assert.equal(answered, midFlight.length, `requests in flight when h3 died: ${JSON.stringify(midFlight)}`);
  });

  test('after every fault: no acknowledged write lost, ≥ 99.9 % answered, converged', async (t) => {
    for (const load of loads) await load.stop();
    await writer?.stop();
    const lost = writer === undefined ? [] : await missingWrites(writer, cluster);
    const acknowledged = (writer?.secrets.length ?? 0) + (writer?.apps.length ?? 0);
    t.diagnostic(
      `chaos_writes_acknowledged=${acknowledged} chaos_writes_refused=${writer?.refused ?? 0} chaos_state_lost=${lost.length}`,
    );
    // The whole run: between the faults too.
    const answered = loads.reduce((sum, load) => sum + load.ok, 0);
    const failed = loads.reduce((sum, load) => sum + load.failures.length, 0);
    const ratio = answered / Math.max(1, answered + failed);
    t.diagnostic(
      `chaos_requests_answered=${answered} chaos_requests_failed=${failed} chaos_requests_answered_ratio=${ratio.toFixed(5)}`,
    );
    assert.ok(acknowledged > 0, 'the writer had writes acknowledged');
    assert.deepEqual(lost, [], 'every acknowledged write is in the store');
    const failures = loads.flatMap((load) => load.failures.map((failure) => `${load.name}: ${failure}`));
    assert.ok(ratio >= 0.999, `answered ratio ${ratio}: ${failures.slice(0, 20).join('\n')}`);
    // Converged: every machine started on an ok host, every proxy routes to every machine.
    for (const id of Object.values(machineOn)) await startedAndOk(id, `${id} started`);
    await routesEverywhere();
  });
});
