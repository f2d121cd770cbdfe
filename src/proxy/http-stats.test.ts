/** HAProxy's counters become per-app request and latency figures that survive its reloads. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CarriedCounters, parseBackendStats, parseLatencyTable, renderLatencyMap } from './http-stats.ts';

test('status classes per app from show stat; latency buckets from the stick table', () => {
  const csv = [
    '# pxname,svname,qcur,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,',
    'app_web,BACKEND,0,0,7,1,0,2,0,',
    'app_web_9000_http,BACKEND,0,0,3,0,0,0,0,',
    'app_web,app_web.1,0,0,7,1,0,2,0,',
    'nearby_no_app,BACKEND,0,0,0,0,4,0,0,',
    'nearby_replay,BACKEND,0,0,9,0,0,0,0,',
    '',
  ].join('\n');
  assert.deepEqual(
    parseBackendStats(csv),
    new Map([
      ['web;2xx', 10],
      ['web;3xx', 1],
      ['web;5xx', 2],
      ['-;4xx', 4],
    ]),
  );
  const table = [
    '# table: nearby_latency, type: string, size:122880, used:2',
    '0x55f44ffdfac8: key=web;0.005 use=0 exp=0 gpc0=3',
    '0x55f44ffdfad0: key=web;+Inf use=0 exp=0 gpc0=1',
  ].join('\n');
  assert.deepEqual(
    parseLatencyTable(table),
    new Map([
      ['web;0.005', 3],
      ['web;+Inf', 1],
    ]),
  );
  assert.match(renderLatencyMap(), /^0:5 0\.005\n6:10 0\.01\n/);
  assert.match(renderLatencyMap(), /\n5001:10000 10\n$/);
});

test('a counter that drops (a new HAProxy worker) carries the old value over', () => {
  const counters = new CarriedCounters();
  assert.deepEqual(counters.update(new Map([['a', 5]])), new Map([['a', 5]]));
  assert.deepEqual(counters.update(new Map([['a', 8]])), new Map([['a', 8]]));
  assert.deepEqual(counters.update(new Map([['a', 2]])), new Map([['a', 10]]), 'reloaded: 8 + 2');
  assert.deepEqual(counters.update(new Map()), new Map([['a', 10]]), 'not seen yet by the new worker');
  assert.deepEqual(counters.update(new Map([['a', 1]])), new Map([['a', 11]]));
});
