import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMap, parseServersState, parseShowProc } from './runtime-api.ts';

// Answers captured from HAProxy 2.6.12.
test('parses show servers state', () => {
  const answer = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
4 app_a 1 s1 127.0.0.2 0 1 1 1 5 1 0 0 0 0 0 0 - 9001 - 0 0 - - 0
4 app_a 2 m2 127.0.0.3 2 0 1 1 0 1 0 0 0 0 0 0 - 9002 - 0 0 - - 0

`;
  assert.deepEqual(parseServersState(answer), [
    { backend: 'app_a', name: 's1', address: '127.0.0.2', port: 9001, opState: 0, adminState: 1 },
    { backend: 'app_a', name: 'm2', address: '127.0.0.3', port: 9002, opState: 2, adminState: 0 },
  ]);
});

test('parses show map', () => {
  const answer = '0x55596ba37180 a.localhost app_a\n0x7fa12c04f4d0 c.localhost app_c\n\n';
  assert.deepEqual(
    [...parseMap(answer)],
    [
      ['a.localhost', 'app_a'],
      ['c.localhost', 'app_c'],
    ],
  );
});

test('parses the master CLI show proc, current workers only', () => {
  const answer = `#<PID>          <type>          <reloads>       <uptime>        <version>      
16680           master          1 [failed: 0]   0d00h10m21s     2.6.12-1+deb12u4
# workers
26778           worker          0               0d00h00m01s     2.6.12-1+deb12u4
# old workers
16683           worker          1               0d00h10m21s     2.6.12-1+deb12u4
# programs

`;
  assert.deepEqual(parseShowProc(answer), {
    master: { pid: 16680, type: 'master', reloads: 1, failedReloads: 0 },
    workers: [{ pid: 26778, type: 'worker', reloads: 0 }],
  });
});
