/**
 * The private network is per organisation, end to end through a real `nearby server`: two orgs with
 * two apps each (one hello machine per app); every ordered pair of machines is tried over IPv4 and
 * IPv6 from inside the source machine's network namespace. Machines of one org answer each other,
 * other orgs' machines and the host's listeners do not, while nearby is down and after it restarts.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MachineView } from '../src/model/mod.ts';
import { gatewayAddresses } from '../src/net/mod.ts';
import { runCommand } from '../src/run-command.ts';
import { helloImage } from './helpers/images.ts';
import { type RunningNearby, startNearby } from './helpers/nearby.ts';
import { freePort, startRegistry } from './helpers/registry.ts';

interface Machine {
  app: string;
  org: string;
  id: string;
  ipv4: string;
  ipv6: string;
}

const APPS = [
  { app: 'acme-web', org: 'acme' },
  { app: 'acme-api', org: 'acme' },
  { app: 'solo-web', org: 'personal' },
  { app: 'solo-api', org: 'personal' },
];

describe('per-organisation private network', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let bridge: string;
  let gateway: { ipv4: string; ipv6: string };
  let metricsPort: number;
  const machines: Machine[] = [];
  const canaries: Server[] = [];
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const server of canaries) server.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** An HTTP GET from inside `from`'s network namespace: the body, or undefined if nothing answered. */
  async function get(from: Machine, host: string, port = 8080): Promise<string | undefined> {
    const target = host.includes(':') ? `[${host}]` : host;
    const result = await runCommand('ip', [
      ...['netns', 'exec', `${bridge}-${from.id}`, 'curl', '-s', '--connect-timeout', '4'],
      ...['--max-time', '6', `http://${target}:${port}/`],
    ]);
    return result.code === 0 ? result.stdout : undefined;
  }

  /** Every ordered pair on both families, in parallel: what answered and what did not. */
  async function matrix(): Promise<string[]> {
    const tries = machines.flatMap((from) =>
      machines
        .filter((to) => to !== from)
        .flatMap((to) =>
          (['ipv4', 'ipv6'] as const).map(async (family) => {
            const body = await get(from, to[family]);
            const answered = body?.includes(`hello from ${to.id}`) ?? false;
            const allowed = from.org === to.org;
            return answered === allowed
              ? undefined
              : `${from.app} -> ${to.app} over ${family}: ${answered ? 'answered' : 'no answer'}, expected ${allowed ? 'an answer' : 'none'}`;
          }),
        ),
    );
    return (await Promise.all(tries)).filter((wrong): wrong is string => wrong !== undefined);
  }

  before(async () => {
    const registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    metricsPort = await freePort();
    process.env.NEARBY_METRICS_LISTEN = `127.0.0.1:${metricsPort}`;
    nearby = await startNearby(hooks);
    const settings = JSON.parse(await readFile(join(nearby.dataDir, 'server.json'), 'utf8'));
    bridge = settings.bridge;
    gateway = gatewayAddresses(settings.ipv4Cidr, settings.ipv6Cidr);
    for (const { app, org } of APPS) {
      const created = await nearby.api('POST', '/v1/apps', { app_name: app, org_slug: org });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const { body } = await nearby.api<MachineView>('POST', `/v1/apps/${app}/machines`, {
        config: { image },
      });
      const wait = await nearby.api(
        'GET',
        `/v1/apps/${app}/machines/${body.id}/wait?state=started&timeout=60`,
      );
      assert.equal(wait.status, 200, JSON.stringify(wait.body));
      const view = (await nearby.api<MachineView>('GET', `/v1/apps/${app}/machines/${body.id}`)).body;
      machines.push({ app, org, id: view.id, ipv4: view.nearby.ipv4 ?? '', ipv6: view.private_ip });
    }
    // A host service on the bridge's own addresses, as any daemon listening on all addresses is.
    for (const host of [gateway.ipv4, gateway.ipv6]) {
      const server = createServer((socket) => socket.end('HTTP/1.0 200 OK\r\n\r\nhost canary\n'));
      await new Promise<void>((resolve) => server.listen({ host, port: 0 }, resolve));
      canaries.push(server);
    }
  });

  test('machines reach their own org on both families and no other org', async () => {
    assert.deepEqual(await matrix(), []);
  });

  test("the host's listeners are closed to machines", async () => {
    const [from] = machines;
    const settings = JSON.parse(await readFile(join(nearby.dataDir, 'server.json'), 'utf8'));
    const [canary4, canary6] = canaries.map((server) => (server.address() as { port: number }).port);
    // The canary answers the host itself: what a machine does not get is the isolation, not a typo.
    const fromHost = await runCommand('curl', [
      '-s',
      '--max-time',
      '5',
      `http://${gateway.ipv4}:${canary4}/`,
    ]);
    assert.match(fromHost.stdout, /host canary/);
    const listeners: [string, string, number][] = [
      ['canary', gateway.ipv4, canary4],
      ['canary', gateway.ipv6, canary6],
    ];
    for (const host of [gateway.ipv4, gateway.ipv6]) {
      listeners.push(
        ['api', host, Number(new URL(nearby.apiUrl).port)],
        ['proxy', host, nearby.proxyPort],
        ['metrics', host, metricsPort],
        ['registry', host, Number(String(settings.registryListen).split(':').pop())],
      );
    }
    const answered = await Promise.all(
      listeners.map(async ([name, host, port]) =>
        (await get(from, host, port)) === undefined ? undefined : `${name} on ${host}:${port}`,
      ),
    );
    assert.deepEqual(answered.filter(Boolean), []);
  });

  test('the kernel keeps the isolation while nearby is down, and after it starts again', async () => {
    await nearby.stop();
    assert.deepEqual(await matrix(), [], 'while nearby is down');
    await nearby.restart();
    assert.deepEqual(await matrix(), [], 'after the restart');
  });
});
