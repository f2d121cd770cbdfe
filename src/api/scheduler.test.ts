import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placementStore, staleHeartbeat } from '../../test/helpers/placement-store.ts';
import { isNearbyError, type NearbyError } from '../errors.ts';
import { keys, type MachineRecord } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { checkResize, liveRegions, pickHost, serializePlacement } from './scheduler.ts';

async function refusal(store: Store, request: Parameters<typeof pickHost>[1]): Promise<NearbyError> {
  try {
    await pickHost(store, request);
  } catch (error) {
    if (isNearbyError(error)) return error;
    throw error;
  }
  assert.fail(`expected ${request.region} to be refused`);
}

const stale = staleHeartbeat;

test('the least loaded host of the region that is up wins', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('fra-1', 'fra');
  await host('fra-2', 'fra');
  await host('fra-3', 'fra', { heartbeat_at: stale() });
  await host('iad-1', 'iad', { memory_mb: 65536 });
  await machine('fra-1');
  assert.equal((await pickHost(store, { region: 'fra' })).name, 'fra-2');
  await machine('fra-2', { memory_mb: 1024 });
  // fra-1: 256 of 4096 MB; fra-2: 1024 of 4096 MB. The stale fra-3 is empty but down.
  assert.equal((await pickHost(store, { region: 'fra' })).name, 'fra-1');
  assert.equal((await pickHost(store, { region: 'iad' })).name, 'iad-1');
  assert.deepEqual(await liveRegions(store), ['fra', 'iad']);
});

test('load is the fullest resource: a host near its machine cap loses to one with less memory free', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('a', 'fra', { max_machines: 4 });
  await host('b', 'fra', { memory_mb: 2048 });
  await machine('a');
  await machine('a');
  await machine('b', { memory_mb: 512 });
  // a: 3 of 4 machines once placed (75%); b: 768 of 2048 MB (37.5%).
  assert.equal((await pickHost(store, { region: 'fra' })).name, 'b');
});

test('a region without room says which resource is short on each host, and where there is room', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('fra-1', 'fra', { memory_mb: 1024 });
  await host('fra-2', 'fra', { max_machines: 2 });
  await host('syd-1', 'syd');
  await host('iad-1', 'iad', { memory_mb: 512 });
  await machine('fra-1', { memory_mb: 768 });
  await machine('fra-2');
  await machine('fra-2', undefined, 'stopped');
  await machine('fra-2', undefined, 'destroyed');
  const error = await refusal(store, { region: 'fra', guest: { cpus: 1, memory_mb: 512 } });
  assert.equal(error.code, 'NO_CAPACITY');
  assert.equal(error.status, 422);
  assert.match(error.message, /no host in region 'fra' has room for a machine of 1 shared vCPU and 512 MB/);
  assert.match(error.message, /fra-1 is short of memory \(256 of 1024 MB free\)/);
  // A stopped machine keeps its slot (it may be woken any time); a destroyed one does not.
  assert.match(error.message, /fra-2 is short of machine cap \(2 of 2 machines\)/);
  assert.match(error.hint ?? '', /nearby agent --region fra/);
  // iad's only host has 512 MB, which fits exactly; syd has room too.
  assert.match(error.hint ?? '', /use a region with room: iad, syd$/);
  assert.equal((await pickHost(store, { region: 'fra', guest: { memory_mb: 256 } })).name, 'fra-1');
});

test('shared vCPUs are overcommitted 8 to a core, performance vCPUs are reserved whole', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('h', 'fra', { cpus: 1, memory_mb: 65536 });
  for (let i = 0; i < 7; i++) await machine('h', { cpu_kind: 'shared', cpus: 1 });
  assert.equal((await pickHost(store, { region: 'fra', guest: { cpus: 1 } })).name, 'h');
  await machine('h', { cpu_kind: 'shared', cpus: 1 });
  const error = await refusal(store, { region: 'fra', guest: { cpus: 1 } });
  assert.equal(error.code, 'NO_CAPACITY');
  assert.match(error.message, /h is short of CPU \(0 of 1 cores free; a shared vCPU takes 1\/8\)/);

  const other = await placementStore(t);
  await other.host('p', 'fra', { cpus: 2 });
  await other.machine('p', { cpu_kind: 'performance', cpus: 2, memory_mb: 1024 });
  const performance = await refusal(other.store, {
    region: 'fra',
    guest: { cpu_kind: 'performance', cpus: 1, memory_mb: 1024 },
  });
  assert.match(performance.message, /1 performance vCPU and 1024 MB: p is short of CPU \(0 of 2 cores/);
});

test('an unknown region names the regions that exist; a region whose hosts are all silent is down', async (t) => {
  const { store, host } = await placementStore(t);
  await host('fra-1', 'fra');
  await host('iad-1', 'iad');
  await host('syd-1', 'syd', { heartbeat_at: stale() });
  const unknown = await refusal(store, { region: 'ams' });
  assert.equal(unknown.code, 'NO_HOST');
  assert.equal(unknown.status, 422);
  assert.equal(unknown.message, "no host in region 'ams'; regions with hosts: fra, iad");
  const down = await refusal(store, { region: 'syd' });
  assert.equal(down.code, 'REGION_DOWN');
  assert.match(down.message, /region 'syd' has 1 host, none of them up \(the last heartbeat is 1\ds old\)/);
  assert.match(down.hint ?? '', /nearby platform hosts.*another region: fra, iad/);
});

test('a runtime only some hosts run, and volumes that take no room', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('plain', 'fra', { memory_mb: 512 });
  await host('vm', 'fra', { runtime: 'microvm', runtimes: ['container', 'microvm'], memory_mb: 8192 });
  await machine('vm', { memory_mb: 4096 });
  assert.equal((await pickHost(store, { region: 'fra', runtime: 'microvm' })).name, 'vm');
  await host('iad-1', 'iad');
  assert.equal((await refusal(store, { region: 'iad', runtime: 'microvm' })).code, 'RUNTIME_UNSUPPORTED');
  await machine('iad-1', { memory_mb: 4096 });
  // iad-1 is full for machines, but a volume made ahead of its machine takes none of its room.
  assert.equal((await refusal(store, { region: 'iad' })).code, 'NO_CAPACITY');
  assert.equal((await pickHost(store, { region: 'iad', volume: true })).name, 'iad-1');
});

test('an update may grow a machine only as far as its host has room', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('h', 'fra', { memory_mb: 1024 });
  const id = await machine('h', { memory_mb: 512 });
  await machine('h', { memory_mb: 256 });
  const record = (await store.get<MachineRecord>(keys.machine('web', id)))?.value as MachineRecord;
  await checkResize(store, record, { memory_mb: 768 });
  await assert.rejects(
    checkResize(store, record, { memory_mb: 1024 }),
    (error: unknown) =>
      isNearbyError(error, 'NO_CAPACITY') &&
      error.message ===
        `machine ${id} cannot grow to 1 shared vCPU and 1024 MB: h is short of memory (768 of 1024 MB free)`,
  );
  // Shrinking, or another change at the same size, is never refused, even on a host over its room.
  await machine('h', { memory_mb: 512 });
  await checkResize(store, record, { memory_mb: 512 });
  await checkResize(store, record, { memory_mb: 256 });
});

test('placements in one process take turns: two creates at once cannot both take the last slot', async (t) => {
  const { store, host } = await placementStore(t);
  await host('h', 'fra', { max_machines: 1 });
  const place = (id: string) =>
    serializePlacement(async () => {
      const chosen = await pickHost(store, { region: 'fra' });
      const record = {
        id,
        app: 'web',
        host: chosen.name,
        config: { image: 'web:1' },
        desired: { state: 'started' },
      };
      await store.put(keys.machine('web', id), record);
      return chosen.name;
    });
  const results = await Promise.allSettled([place('a'), place('b')]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected'],
  );
  const refused = (results[1] as PromiseRejectedResult).reason;
  assert.ok(isNearbyError(refused, 'NO_CAPACITY'), String(refused));
});
