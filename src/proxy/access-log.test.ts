/** Backend names name their app; nearby's metrics render as Prometheus text. (The access log: proxy.test.ts.) */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appOfBackend } from './access-log.ts';
import { ProxyMetrics } from './metrics.ts';

test('the app of a backend name', () => {
  assert.equal(appOfBackend('app_hello'), 'hello');
  assert.equal(appOfBackend('app_my-db_5432_tcp'), 'my-db');
  assert.equal(appOfBackend('nearby_no_app'), undefined);
});

test("nearby's own metrics render as Prometheus text", () => {
  const metrics = new ProxyMetrics();
  metrics.replays.inc({ app: 'say"hi' });
  metrics.replays.inc({ app: 'say"hi' });
  metrics.wakes.inc({ app: 'hello', region: 'fra' });
  const text = metrics.render();
  assert.match(text, /^# TYPE nearby_proxy_replays_total counter$/m);
  assert.match(text, /^nearby_proxy_replays_total\{app="say\\"hi"\} 2$/m);
  assert.match(text, /^nearby_proxy_wakes_total\{app="hello",region="fra"\} 1$/m);
});
