import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite.ts';
import {
  type BillingState,
  billingStateKey,
  type EnforceEffects,
  enforceOnce,
  type MachineRef,
} from './enforce.ts';
import { orgMayGrow } from './level.ts';
import { emptyUsage } from './meter.ts';
import { usageKey, writeBudget } from './store.ts';

describe('enforcer pass on a real store, with a controlled clock', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-enforce-'));
  const store = new SqliteStore(join(dir, 'store.db'));
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const now = Date.UTC(2026, 11, 10);
  // $1.94 a month for a shared-cpu-1x: 30 days of it is $1.94.
  await store.put(usageKey('acme', '2026-12', 'web', 'h1'), {
    ...emptyUsage(now),
    machine_seconds: { 'shared-1x-256mb': 30 * 86400 },
  });
  const sent: number[] = [];
  const changes: string[] = [];
  const running = new Set(['m1', 'm2']);
  const effects: EnforceEffects = {
    notify: async (_org, _budget, _state, warning) => {
      sent.push(warning);
    },
    suspend: async () => {
      const stopped: MachineRef[] = [...running].map((id) => ({ app: 'web', id }));
      running.clear();
      return { stopped, complete: true };
    },
    resume: async (_org, machines) => {
      for (const machine of machines) running.add(machine.id);
      return [];
    },
    changed: async (_org, from, state, machines) => {
      changes.push(`${from}->${state.level}:${machines.length}`);
    },
  };
  const level = async (at = now) => (await enforceOnce(store, at, effects)).get('acme')?.level;

  it('warns once per threshold, suspends at the cap, comes back when it is raised and in a new month', async () => {
    await writeBudget(store, 'acme', { cap_usd: 3 });
    assert.equal(await level(), 'ok');
    assert.deepEqual(sent, [50]);
    assert.equal(await orgMayGrow(store, 'acme', now), true);
    await writeBudget(store, 'acme', { cap_usd: 2.2 });
    assert.equal(await level(), 'shrink');
    assert.equal(await orgMayGrow(store, 'acme', now), false, 'no growth at the shrink level');
    await writeBudget(store, 'acme', { cap_usd: 1.5 });
    assert.equal(await level(), 'suspended');
    assert.equal(running.size, 0, 'the started machines are stopped');
    const stored = (await store.get<BillingState>(billingStateKey('acme')))?.value;
    assert.deepEqual(stored?.stopped?.map((m) => m.id).sort(), ['m1', 'm2'], 'and remembered');
    await level();
    assert.deepEqual(sent, [50, 80, 100], 'each warning once');
    await writeBudget(store, 'acme', { cap_usd: 100 });
    assert.equal(await level(), 'ok');
    assert.deepEqual([...running].sort(), ['m1', 'm2'], 'the same machines start again');
    assert.equal((await store.get<BillingState>(billingStateKey('acme')))?.value.stopped, undefined);
    await writeBudget(store, 'acme', { cap_usd: 1 });
    assert.equal(await level(), 'suspended');
    assert.equal(running.size, 0);
    assert.equal(await orgMayGrow(store, 'acme', Date.UTC(2027, 0, 2)), true, "last month's state is stale");
    assert.equal(await level(Date.UTC(2027, 0, 2)), 'ok', 'a new month starts at zero');
    assert.deepEqual([...running].sort(), ['m1', 'm2'], 'and brings the machines back');
    assert.deepEqual(changes, [
      'ok->shrink:0',
      'shrink->suspended:2',
      'suspended->ok:2',
      'ok->suspended:2',
      'suspended->ok:2',
    ]);
  });
});
