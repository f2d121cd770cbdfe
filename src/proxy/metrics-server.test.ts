/** HAProxy's per-server series name machines, not the server slots behind them; the process's memory. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameServers, processMetrics } from './metrics-server.ts';

test('per-server series are renamed to machine ids; free slots are left out', () => {
  const exposition = [
    '# HELP haproxy_server_current_sessions Number of current sessions.',
    '# TYPE haproxy_server_current_sessions gauge',
    'haproxy_server_current_sessions{proxy="app_web",server="app_web.1"} 3',
    'haproxy_server_current_sessions{proxy="app_web",server="app_web.2"} 0',
    'haproxy_server_check_status{proxy="app_web",server="app_web.1",state="HANA"} 0',
    'haproxy_backend_current_sessions{proxy="app_web"} 3',
  ].join('\n');
  const named = nameServers(exposition, (backend, server) =>
    backend === 'app_web' && server === 'app_web.1' ? '3d8e1f2a6c01b4' : undefined,
  );
  assert.equal(
    named,
    [
      '# HELP haproxy_server_current_sessions Number of current sessions.',
      '# TYPE haproxy_server_current_sessions gauge',
      'haproxy_server_current_sessions{proxy="app_web",server="3d8e1f2a6c01b4"} 3',
      'haproxy_server_check_status{proxy="app_web",server="3d8e1f2a6c01b4",state="HANA"} 0',
      'haproxy_backend_current_sessions{proxy="app_web"} 3',
    ].join('\n'),
  );
});

test("the nearby process's memory: resident and heap, as gauges", () => {
  const text = processMetrics();
  for (const name of [
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_heap_size_total_bytes',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'));
    const value = Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    assert.ok(value > 0, `${name} ${value}`);
  }
});
