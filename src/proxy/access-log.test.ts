/** HAProxy's per-request line becomes one structured entry; metrics render as Prometheus text. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appOfBackend, parseAccessLine } from './access-log.ts';
import { ProxyMetrics } from './metrics.ts';

test('an access line is parsed into the fields the log and metrics need', () => {
  const entry = parseAccessLine(
    'nearby1 01JABCDEF-fra hello app_hello 3d8e1f2a 200 0 0 1 3 5 151 10.0.0.7 GET HTTP/1.1 /json?a=b c\n',
  );
  assert.deepEqual(entry, {
    request_id: '01JABCDEF-fra',
    app: 'hello',
    backend: 'app_hello',
    machine: '3d8e1f2a',
    status: 200,
    method: 'GET',
    path: '/json?a=b c',
    http_version: 'HTTP/1.1',
    client_ip: '10.0.0.7',
    bytes: 151,
    timing: { request_ms: 0, queue_ms: 0, connect_ms: 1, response_ms: 3, total_ms: 5 },
  });
  const noServer = parseAccessLine(
    'nearby1 X-fra - nearby_no_app <NOSRV> 404 0 -1 -1 -1 0 90 ::1 GET HTTP/1.1 /',
  );
  assert.equal(noServer?.app, undefined);
  assert.equal(noServer?.machine, undefined);
  assert.equal(parseAccessLine('some other log line'), undefined);
  assert.equal(appOfBackend('app_hello'), 'hello');
  assert.equal(appOfBackend('app_my-db_5432_tcp'), 'my-db');
  assert.equal(appOfBackend('nearby_no_app'), undefined);
});

test('metrics render counters and histograms in the Prometheus text format', () => {
  const metrics = new ProxyMetrics();
  metrics.requests.inc({ app: 'hello', region: 'fra', status_class: '2xx' });
  metrics.requests.inc({ app: 'hello', region: 'fra', status_class: '2xx' });
  metrics.duration.observe({ app: 'hello', region: 'fra' }, 0.003);
  metrics.duration.observe({ app: 'hello', region: 'fra' }, 0.2);
  metrics.replays.inc({ app: 'say"hi' });
  const text = metrics.render();
  assert.match(text, /^# TYPE nearby_http_requests_total counter$/m);
  assert.match(text, /^nearby_http_requests_total\{app="hello",region="fra",status_class="2xx"\} 2$/m);
  assert.match(
    text,
    /^nearby_http_request_duration_seconds_bucket\{app="hello",region="fra",le="0.005"\} 1$/m,
  );
  assert.match(
    text,
    /^nearby_http_request_duration_seconds_bucket\{app="hello",region="fra",le="0.25"\} 2$/m,
  );
  assert.match(
    text,
    /^nearby_http_request_duration_seconds_bucket\{app="hello",region="fra",le="\+Inf"\} 2$/m,
  );
  assert.match(text, /^nearby_http_request_duration_seconds_count\{app="hello",region="fra"\} 2$/m);
  assert.match(text, /^nearby_proxy_replays_total\{app="say\\"hi"\} 1$/m);
});
