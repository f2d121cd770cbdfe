import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IdleClock, parseShowStat } from './autostop-stats.ts';

const header =
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,';
const row = (backend: string, server: string, scur: number, stot: number) => {
  const fields = header
    .replace('# ', '')
    .split(',')
    .map(() => '');
  fields[0] = backend;
  fields[1] = server;
  fields[4] = String(scur);
  fields[7] = String(stot);
  return fields.join(',');
};

test('show stat: sessions summed per machine over app backends; frontends and totals left out', () => {
  const csv = [
    header,
    row('nearby_http', 'FRONTEND', 9, 99),
    row('app_hello', 'm1', 2, 10),
    row('app_hello_9000_tcp', 'm1', 1, 5),
    row('app_hello', 'm2', 0, 3),
    row('app_hello', 'nearby_activator', 0, 7),
    row('app_hello', 'BACKEND', 3, 20),
    '',
  ].join('\n');
  const loads = parseShowStat(csv);
  assert.deepEqual(loads.get('m1'), { sessions: 3, total: 15 });
  assert.deepEqual(loads.get('m2'), { sessions: 0, total: 3 });
  assert.equal(loads.has('FRONTEND'), false);
  assert.equal(loads.has('BACKEND'), false);
  assert.equal(parseShowStat('garbage').size, 0);
});

test('show stat names server slots: they are mapped back to machines, free slots left out', () => {
  const slots: Record<string, string> = {
    'app_hello/app_hello.1': 'm1',
    'app_hello_9000_tcp/app_hello_9000_tcp.2': 'm1',
  };
  const csv = [
    header,
    row('app_hello', 'app_hello.1', 2, 10),
    row('app_hello', 'app_hello.2', 0, 4),
    row('app_hello_9000_tcp', 'app_hello_9000_tcp.2', 1, 5),
    '',
  ].join('\n');
  const loads = parseShowStat(csv, (backend, server) => slots[`${backend}/${server}`]);
  assert.deepEqual([...loads], [['m1', { sessions: 3, total: 15 }]]);
});

test('idle clock: a machine is busy while it has sessions or its total moves', () => {
  const clock = new IdleClock();
  clock.sample(new Map([['m1', { sessions: 0, total: 5 }]]), 1000);
  assert.equal(clock.idleMs('m1', 1000), 0, 'first seen counts as active');
  clock.sample(new Map([['m1', { sessions: 0, total: 5 }]]), 3000);
  assert.equal(clock.idleMs('m1', 3000), 2000);
  clock.sample(new Map([['m1', { sessions: 0, total: 6 }]]), 4000);
  assert.equal(clock.idleMs('m1', 4500), 500, 'a request since the last look');
  clock.sample(new Map([['m1', { sessions: 1, total: 6 }]]), 6000);
  assert.equal(clock.idleMs('m1', 6000), 0, 'a long request in progress');
  clock.touch('m1', 7000);
  assert.equal(clock.idleMs('m1', 7000), 0);
  clock.sample(new Map(), 8000);
  assert.equal(clock.idleMs('m1', 8000), undefined, 'out of rotation: forgotten');
});
