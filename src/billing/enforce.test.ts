import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SqliteStore } from '../store/sqlite.ts';
import { enforceOnce } from './enforce.ts';
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
  const notify = async (_org: string, _budget: unknown, _state: unknown, warning: number) => {
    sent.push(warning);
  };

  it('warns once per threshold, suspends at the cap, comes back when it is raised and in a new month', async () => {
    await writeBudget(store, 'acme', { cap_usd: 3 });
    assert.equal((await enforceOnce(store, now, notify)).get('acme')?.level, 'ok');
    assert.deepEqual(sent, [50]);
    await writeBudget(store, 'acme', { cap_usd: 1.5 });
    assert.equal((await enforceOnce(store, now, notify)).get('acme')?.level, 'suspended');
    await enforceOnce(store, now, notify);
    assert.deepEqual(sent, [50, 80, 100], 'each warning once');
    await writeBudget(store, 'acme', { cap_usd: 100 });
    assert.equal((await enforceOnce(store, now, notify)).get('acme')?.level, 'ok');
    await writeBudget(store, 'acme', { cap_usd: 1 });
    assert.equal(
      (await enforceOnce(store, Date.UTC(2027, 0, 2), notify)).get('acme')?.level,
      'ok',
      'a new month starts at zero',
    );
  });
});
