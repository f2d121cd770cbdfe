/** Latency per route: HAProxy's table of responses by slot and bucket becomes a p50 and p95 per serving region. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MachineRecord } from '../model/mod.ts';
import { demandOfSample, latencyByMachine } from './demand.ts';
import {
  type LatencyHistogram,
  latencyQuantile,
  parseRouteLatencyTable,
  RouteLatencyCounts,
  renderRouteLatencyMap,
} from './route-latency.ts';

const table = (entries: Record<string, number>) =>
  [
    '# table: nearby_route_latency, type: string, size:204800, used:3',
    ...Object.entries(entries).map(
      ([key, count], index) => `0x55692ba1a0e${index}: key=${key} use=0 exp=599880 gpc0=${count}`,
    ),
    '',
  ].join('\n');

test('the map puts every whole millisecond in one bucket, named by its upper bound', () => {
  const lines = renderRouteLatencyMap().trim().split('\n');
  assert.equal(lines[0], '0:1 1');
  assert.equal(lines[1], '2:2 2');
  assert.equal(lines[3], '4:5 5');
  assert.equal(lines.at(-1), '7001:10000 10000');
});

test('quantiles interpolate within the bucket; past the last bound they are that bound', () => {
  const histogram: LatencyHistogram = new Map([
    [300, 50],
    [500, 50],
  ]);
  assert.equal(latencyQuantile(histogram, 0.5), 300);
  // 95th of 100: 45 into the 500 bucket's 50, which spans 300–500.
  assert.equal(latencyQuantile(histogram, 0.95), 480);
  assert.equal(latencyQuantile(new Map([[1, 4]]), 0.5), 0.5);
  assert.equal(latencyQuantile(new Map([[Number.POSITIVE_INFINITY, 1]]), 0.5), 10000);
  assert.equal(latencyQuantile(new Map(), 0.5), undefined);
});

test('what each slot counted since the last pass: a baseline first, reloads and expiries count from zero', () => {
  const counts = new RouteLatencyCounts();
  assert.equal(counts.update(parseRouteLatencyTable(table({ 'app_shop.1;2': 40 }))).size, 0);
  const second = counts.update(
    parseRouteLatencyTable(table({ 'app_shop.1;2': 45, 'app_shop.1;+Inf': 1, 'app_shop.2;300': 7 })),
  );
  assert.deepEqual(
    [...second].map(([slot, histogram]) => [slot, [...histogram]]),
    [
      [
        'app_shop.1',
        [
          [2, 5],
          [Number.POSITIVE_INFINITY, 1],
        ],
      ],
      ['app_shop.2', [[300, 7]]],
    ],
  );
  // A new HAProxy worker's table: lower than before, so all of it is new.
  const third = counts.update(parseRouteLatencyTable(table({ 'app_shop.1;2': 3, 'app_shop.2;300': 7 })));
  assert.deepEqual(
    [...third].map(([slot, histogram]) => [slot, [...histogram]]),
    [['app_shop.1', [[2, 3]]]],
  );
});

test('a demand record carries each route’s p50 and p95, from the slots of the machines serving it', () => {
  const machine = (id: string, region: string, host: string) =>
    ({ id, app: 'shop', region, host }) as MachineRecord;
  const records = new Map([
    ['a', machine('a', 'syd', 'syd-1')],
    ['b', machine('b', 'iad', 'iad-1')],
    ['c', machine('c', 'iad', 'iad-2')],
  ]);
  const slots: Record<string, string> = { 'app_shop.1': 'a', 'app_shop.2': 'b', 'app_shop_9000_tcp.1': 'c' };
  const latency = latencyByMachine(
    new Map([
      ['app_shop.1', new Map([[2, 10]])],
      ['app_shop.2', new Map([[300, 3]])],
      ['app_shop_9000_tcp.1', new Map([[500, 1]])],
      // A free slot (its machine went), and the activator: not any machine's.
      ['app_shop.3', new Map([[5, 1]])],
    ]),
    (_backend, slot) => slots[slot],
  );
  assert.deepEqual([...latency.keys()].sort(), ['a', 'b', 'c']);
  const totals = new Map([
    ['a', 0],
    ['b', 0],
    ['c', 0],
  ]);
  const demand = demandOfSample({
    loads: new Map([
      ['a', { sessions: 0, total: 10 }],
      ['b', { sessions: 0, total: 3 }],
      ['c', { sessions: 0, total: 1 }],
    ]),
    totals,
    records,
    region: 'syd',
    isLocal: (record) => record.host === 'syd-1',
    rttMs: () => 201,
    latency,
  });
  assert.deepEqual(demand.get('shop'), {
    syd: { requests: 10, concurrency: 0, rtt_ms: 0, p50_ms: 1.5, p95_ms: 2 },
    // b's three responses between 200 and 300 ms and c's one between 300 and 500, merged.
    iad: { requests: 4, concurrency: 0, rtt_ms: 201, p50_ms: 266.7, p95_ms: 460 },
  });
});

test('latency alone makes no demand record: the records are written as often as before', () => {
  const record = { id: 'a', app: 'shop', region: 'syd', host: 'syd-1' } as MachineRecord;
  const demand = demandOfSample({
    loads: new Map([['a', { sessions: 0, total: 10 }]]),
    totals: new Map([['a', 10]]),
    records: new Map([['a', record]]),
    region: 'syd',
    isLocal: () => true,
    rttMs: () => 0,
    latency: new Map([['a', new Map([[2, 1]])]]),
  });
  assert.equal(demand.size, 0);
});
