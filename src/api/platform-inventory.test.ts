import assert from 'node:assert/strict';
import { test } from 'node:test';
import { placementStore, staleHeartbeat } from '../../test/helpers/placement-store.ts';
import { HOST_DOWN_MS } from '../model/mod.ts';
import { readInventory } from './platform-inventory.ts';

test('hosts show capacity, what is used and health; regions sum the hosts that are up', async (t) => {
  const { store, host, machine } = await placementStore(t);
  await host('fra-1', 'fra', { max_machines: 10 });
  await host('fra-2', 'fra', { heartbeat_at: staleHeartbeat(), memory_mb: 1024 });
  await host('syd-1', 'syd', { cpus: 4 });
  await machine('fra-1', { cpu_kind: 'shared', cpus: 2, memory_mb: 512 });
  await machine('fra-1', undefined, 'stopped');
  await machine('fra-1', undefined, 'destroyed');
  await machine('fra-2', { cpu_kind: 'performance', cpus: 1, memory_mb: 1024 });

  const { hosts, regions } = await readInventory(store);
  assert.deepEqual(
    hosts.map((h) => [h.name, h.status]),
    [
      ['fra-1', 'up'],
      ['fra-2', 'down'],
      ['syd-1', 'up'],
    ],
  );
  const [fra1, fra2] = hosts;
  assert.deepEqual(fra1.capacity, { memory_mb: 4096, cpus: 2, machines: 10 });
  // 2 shared vCPUs and 1 shared vCPU: 3/8 of a core; the stopped machine keeps its room.
  assert.deepEqual(fra1.used, { memory_mb: 768, cpus: 0.38, machines: 2 });
  assert.equal(fra1.machines, 2);
  assert.equal(fra1.started, 1);
  assert.equal(fra1.address, '10.0.0.5');
  assert.equal(fra1.version, '0.1.0');
  assert.ok(fra2.heartbeat_age_s >= HOST_DOWN_MS / 1000 + 5);
  assert.deepEqual(fra2.used, { memory_mb: 1024, cpus: 1, machines: 1 });

  assert.deepEqual(regions, [
    {
      name: 'fra',
      hosts: 2,
      hosts_up: 1,
      capacity: { memory_mb: 4096, cpus: 2, machines: 10 },
      used: { memory_mb: 768, cpus: 0.38, machines: 2 },
      machines: 3,
      started: 2,
    },
    {
      name: 'syd',
      hosts: 1,
      hosts_up: 1,
      capacity: { memory_mb: 4096, cpus: 4, machines: 200 },
      used: { memory_mb: 0, cpus: 0, machines: 0 },
      machines: 0,
      started: 0,
    },
  ]);
});
