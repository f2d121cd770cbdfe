import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineActivityRecord } from '../model/activity.ts';
import { activityChanged, activityRecord, mergeActivity } from './autostop-activity.ts';

const at = (ms: number) => new Date(ms).toISOString();

test("a proxy's record names its machines' last activity and sessions, and changes only with them", () => {
  const input = {
    host: 'fra-1',
    region: 'fra',
    now: 10_000,
    machines: new Map([
      ['b', { load: { sessions: 0, total: 7 }, lastActive: 4_000 }],
      ['a', { load: { sessions: 2, total: 9 }, lastActive: 10_000 }],
    ]),
    servedElsewhere: new Map<string, number>(),
  };
  const record = activityRecord(input);
  assert.deepEqual(record, {
    host: 'fra-1',
    region: 'fra',
    updated_at: at(10_000),
    machines: {
      a: { last_active_at: at(10_000), sessions: 2 },
      b: { last_active_at: at(4_000), sessions: 0 },
    },
  });
  assert.deepEqual(Object.keys(record.machines), ['a', 'b'], 'sorted, so equal input gives equal JSON');
  const later = activityRecord({ ...input, now: 20_000 });
  assert.equal(activityChanged(record, later), false, 'only the time moved: nothing to publish');
  assert.equal(activityChanged(undefined, later), true, 'the first one is published');
  const busier = activityRecord({
    ...input,
    machines: new Map([...input.machines, ['b', { load: { sessions: 1, total: 8 }, lastActive: 20_000 }]]),
  });
  assert.equal(activityChanged(record, busier), true);
  const elsewhere = activityRecord({ ...input, servedElsewhere: new Map([['app', 9_000]]) });
  assert.deepEqual(elsewhere.served_elsewhere, { app: at(9_000) });
  assert.equal(activityChanged(record, elsewhere), true);
});

test("the region's view: the latest activity of each machine, sessions summed, other regions ignored", () => {
  const records: MachineActivityRecord[] = [
    {
      host: 'fra-1',
      region: 'fra',
      updated_at: at(10_000),
      machines: { a: { last_active_at: at(9_000), sessions: 1 } },
      served_elsewhere: { shop: at(8_000) },
    },
    {
      host: 'fra-2',
      region: 'fra',
      updated_at: at(10_000),
      machines: {
        b: { last_active_at: at(2_000), sessions: 0 },
        // Named by two records (a renamed host's old one): the latest activity and both sessions count.
        a: { last_active_at: at(5_000), sessions: 2 },
        bad: { last_active_at: 'never', sessions: 1 },
      },
      served_elsewhere: { shop: at(9_500), blog: 'garbled' },
    },
    {
      host: 'syd-1',
      region: 'syd',
      updated_at: at(10_000),
      machines: { c: { last_active_at: at(1_000), sessions: 0 } },
      served_elsewhere: { blog: at(9_000) },
    },
  ];
  const merged = mergeActivity('fra', records);
  assert.deepEqual(
    [...merged.machines],
    [
      ['a', { lastActive: 9_000, sessions: 3 }],
      ['b', { lastActive: 2_000, sessions: 0 }],
    ],
  );
  assert.deepEqual([...merged.servedElsewhere], [['shop', 9_500]]);
  assert.equal(mergeActivity('ams', records).machines.size, 0, 'a region nobody reports on: nothing to stop');
});
