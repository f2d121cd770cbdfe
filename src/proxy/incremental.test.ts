/**
 * Incremental passes against a real HAProxy: what they leave is what a full pass would, so the
 * full pass that follows (the safety net) finds nothing to change.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { reportedStatus } from '../../test/helpers/machine-status.ts';
import { keys } from '../model/keys.ts';
import type { RuntimeApi } from './runtime-api.ts';
import { echoUpstream, freePort, httpService, startTestProxy, TEST_HOST } from './test-proxy.ts';

/** Passes run so far by kind, from `/metrics`. */
async function passes(metricsPort: number): Promise<{ full: number; incremental: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const count = (kind: string) =>
    Number(
      new RegExp(`^nearby_proxy_sync_passes_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0,
    );
  return { full: count('full'), incremental: count('incremental') };
}

/** Everything the sync sets in HAProxy: each app slot's address, port and admin state, and both maps. */
async function haproxyState(api: RuntimeApi, paths: { slotsMap: string; hostsMap: string }) {
  const servers = (await api.servers())
    .filter((server) => server.backend.startsWith('app_'))
    .map((server) => `${server.name} ${server.address}:${server.port} admin=${server.adminState}`);
  return {
    servers,
    slots: [...(await api.showMap(paths.slotsMap))].sort(),
    hosts: [...(await api.showMap(paths.hostsMap))].sort(),
  };
}

/** Slot → machine and address, for the slots in rotation. */
async function inRotation(api: RuntimeApi, slotsMap: string): Promise<string[]> {
  const machineOf = await api.showMap(slotsMap);
  return (await api.servers())
    .filter((server) => machineOf.has(server.name) && (server.adminState & 0x01) === 0)
    .map((server) => `${server.backend} ${machineOf.get(server.name)} ${server.address}`)
    .sort();
}

test('changes applied by incremental passes leave HAProxy as a full pass does', async (t) => {
  const metricsPort = await freePort();
  const proxy = await startTestProxy(t, {
    metricsListen: `127.0.0.1:${metricsPort}`,
    // No periodic full pass during the test: only the kicks below decide what runs.
    fullSyncEveryMs: 600_000,
  });
  const port = await freePort();
  for (const [address, name] of [
    ['127.0.0.11', 'm1'],
    ['127.0.0.12', 'm2'],
    ['127.0.0.13', 'm3'],
    ['127.0.0.14', 'm4'],
    ['127.0.0.15', 'm3-moved'],
  ]) {
    const upstream = await echoUpstream(address, port, name);
    proxy.defer(upstream.close);
  }
  const config = { services: [httpService(port)] };
  await proxy.putApp('one');
  await proxy.putApp('two');
  await proxy.putApp('three');
  await proxy.putMachine('one', 'm1', '127.0.0.11', config);
  const m2 = await proxy.putMachine('one', 'm2', '127.0.0.12', config);
  const m3 = await proxy.putMachine('two', 'm3', '127.0.0.13', config);
  await proxy.proxy.ready;
  await proxy.proxy.synced();
  const before = await passes(metricsPort);
  assert.ok(before.full >= 1);

  // One app loses a machine and gains one, another's machine moves, a third gets its first.
  await proxy.store.put(keys.machineStatus(TEST_HOST, m2.id), reportedStatus(m2, 'stopped', '127.0.0.12'));
  await proxy.putMachine('one', 'm4', '127.0.0.14', config);
  await proxy.store.put(keys.machineStatus(TEST_HOST, m3.id), reportedStatus(m3, 'started', '127.0.0.15'));
  await proxy.putMachine('three', 'm5', '127.0.0.11', config);
  const wanted = [
    'app_one m1 127.0.0.11',
    'app_one m4 127.0.0.14',
    'app_three m5 127.0.0.11',
    'app_two m3 127.0.0.15',
  ];
  const deadline = Date.now() + 30_000;
  while (JSON.stringify(await inRotation(proxy.api, proxy.paths.slotsMap)) !== JSON.stringify(wanted)) {
    assert.ok(Date.now() < deadline, `HAProxy never routed ${wanted.join(', ')}`);
    await sleep(20);
  }
  // m2's slot is out of rotation at once; its address is cleared in the same pass (no request left).
  while ((await proxy.api.showMap(proxy.paths.slotsMap)).size !== 5) {
    assert.ok(Date.now() < deadline, "m2's slot was never freed");
    await sleep(20);
  }
  const incremental = await passes(metricsPort);
  assert.equal(incremental.full, before.full, 'no full pass ran');
  assert.ok(incremental.incremental > before.incremental);
  const afterIncremental = await haproxyState(proxy.api, proxy.paths);

  await proxy.proxy.synced(); // a full pass
  assert.ok((await passes(metricsPort)).full > before.full);
  assert.deepEqual(await haproxyState(proxy.api, proxy.paths), afterIncremental);
});
