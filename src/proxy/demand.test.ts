import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineRecord } from '../model/mod.ts';
import { demandOfSample } from './demand.ts';

const machine = (id: string, region: string, host: string) =>
  ({ id, app: 'shop', region, host }) as MachineRecord;

test('demand: requests since the last sample and in flight, by serving region, with the RTT paid', () => {
  const records = new Map([
    ['a', machine('a', 'syd', 'syd-1')],
    ['b', machine('b', 'iad', 'iad-1')],
  ]);
  const totals = new Map<string, number>();
  const input = {
    totals,
    records,
    region: 'syd',
    isLocal: (record: MachineRecord) => record.host === 'syd-1',
    rttMs: () => 201.4,
  };
  // First sight: counters may hold older sessions of the slot, so nothing is counted yet.
  const first = demandOfSample({
    ...input,
    loads: new Map([
      ['a', { sessions: 0, total: 40 }],
      ['b', { sessions: 0, total: 7 }],
    ]),
  });
  assert.equal(first.size, 0);
  const second = demandOfSample({
    ...input,
    loads: new Map([
      ['a', { sessions: 2, total: 50 }],
      ['b', { sessions: 1, total: 12 }],
    ]),
  });
  assert.deepEqual(Object.fromEntries(second), {
    shop: {
      syd: { requests: 10, concurrency: 2, rtt_ms: 0 },
      iad: { requests: 5, concurrency: 1, rtt_ms: 201 },
    },
  });
  // Idle: no record at all.
  const idle = demandOfSample({
    ...input,
    loads: new Map([
      ['a', { sessions: 0, total: 50 }],
      ['b', { sessions: 0, total: 12 }],
    ]),
  });
  assert.equal(idle.size, 0);
});
