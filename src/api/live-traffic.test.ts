import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DemandRecord } from '../model/autoscale.ts';
import { appTraffic } from './live-traffic.ts';

const now = Date.parse('2026-12-06T04:00:00.000Z');
const record = (
  host: string,
  region: string,
  served: DemandRecord['served'],
  at = now - 1000,
): DemandRecord => ({
  app: 'web',
  host,
  region,
  at: new Date(at).toISOString(),
  interval_ms: 2000,
  served,
});

test('traffic by route: rates per second, backhauled requests counted once, stale records ignored', () => {
  const routes = appTraffic(
    [
      // syd's proxy sent 10 requests to fra; fra's own count includes them.
      record('syd-1', 'syd', { fra: { requests: 10, concurrency: 1, rtt_ms: 280 } }),
      record('fra-1', 'fra', { fra: { requests: 30, concurrency: 3, rtt_ms: 0 } }),
      // Stopped coming a minute ago.
      record('iad-1', 'iad', { iad: { requests: 50, concurrency: 0, rtt_ms: 0 } }, now - 60_000),
    ],
    now,
  );
  assert.deepEqual(routes, [
    { entry: 'fra', served: 'fra', rps: 10, in_flight: 2, rtt_ms: 0 },
    { entry: 'syd', served: 'fra', rps: 5, in_flight: 1, rtt_ms: 280 },
  ]);
});

test('no traffic: no routes', () => {
  assert.deepEqual(
    appTraffic([record('fra-1', 'fra', { fra: { requests: 0, concurrency: 0, rtt_ms: 0 } })], now),
    [],
  );
});

test("a route's latency: each proxy's p50 and p95, merged over a region's hosts by their requests", () => {
  const routes = appTraffic(
    [
      record('syd-1', 'syd', {
        fra: { requests: 30, concurrency: 0, rtt_ms: 280, p50_ms: 300, p95_ms: 400 },
      }),
      record('syd-2', 'syd', {
        fra: { requests: 10, concurrency: 0, rtt_ms: 281, p50_ms: 340, p95_ms: 480 },
      }),
      // fra's own requests only: what syd sent through the backhaul is not in fra's latency.
      record('fra-1', 'fra', { fra: { requests: 60, concurrency: 0, rtt_ms: 0, p50_ms: 1.5, p95_ms: 4 } }),
    ],
    now,
  );
  assert.deepEqual(routes, [
    { entry: 'fra', served: 'fra', rps: 10, in_flight: 0, rtt_ms: 0, p50_ms: 1.5, p95_ms: 4 },
    { entry: 'syd', served: 'fra', rps: 20, in_flight: 0, rtt_ms: 281, p50_ms: 310, p95_ms: 420 },
  ]);
});
