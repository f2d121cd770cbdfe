import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AppRecord, HostRecord, MachineStatus } from '../model/mod.ts';
import { parseRttMatrix } from '../world/matrix.ts';
import { buildDirectory } from './directory.ts';
import { internalAnswer } from './internal-answers.ts';

const now = Date.parse('2026-12-06T00:00:00Z');
const app = (name: string, org: string) => ({ name, org_slug: org }) as AppRecord;
const host = (name: string, region: string, beat = now) =>
  ({ name, region, heartbeat_at: new Date(beat).toISOString() }) as HostRecord;
const status = (id: string, appName: string, state: MachineStatus['state'], n: number) =>
  ({ id, app: appName, state, private_ip: `fdaa::${n}`, ipv4: `10.0.0.${n}` }) as MachineStatus;

const directory = buildDirectory({
  host: 'h-fra',
  region: 'fra',
  now,
  apps: [app('web', 'acme'), app('api', 'acme'), app('other', 'rival')],
  hosts: [
    host('h-fra', 'fra'),
    host('h-iad', 'iad'),
    host('h-syd', 'syd'),
    host('h-dead', 'sin', now - 60_000),
  ],
  statuses: [
    { host: 'h-fra', status: status('asker', 'api', 'started', 2) },
    { host: 'h-fra', status: status('w-fra', 'web', 'started', 3) },
    { host: 'h-fra', status: status('w-off', 'web', 'stopped', 4) },
    { host: 'h-iad', status: status('w-iad', 'web', 'started', 5) },
    { host: 'h-syd', status: status('w-syd', 'web', 'started', 6) },
    { host: 'h-dead', status: status('w-sin', 'web', 'started', 7) },
    { host: 'h-fra', status: status('r-fra', 'other', 'started', 8) },
  ],
});
const matrix = parseRttMatrix(
  '# source: t = test\nfra\tiad\t90\tt\nfra\tsyd\t250\tt\niad\tsyd\t200\tt\nfra\tsin\t160\tt\n',
);
const asker = directory.askerAt('10.0.0.2');
assert.ok(asker);

const ask = (name: string, type: 'AAAA' | 'A' | 'TXT' = 'AAAA', measured?: Record<string, number>) => {
  const answer = internalAnswer({ name, type }, asker, directory, {
    matrix,
    ...(measured ? { measured } : {}),
  });
  return {
    rcode: answer.rcode,
    data: answer.answers.map((record) =>
      record.type === 'TXT'
        ? Buffer.concat(record.data as Buffer[]).toString()
        : (record as { data: string }).data,
    ),
  };
};

test('the asker is known by either of its addresses, with its app, org and region', () => {
  assert.deepEqual(directory.askerAt('::ffff:10.0.0.2'), directory.askerAt('FDAA::2'));
  assert.deepEqual(asker, { machine: 'asker', app: 'api', org: 'acme', host: 'h-fra', region: 'fra' });
  assert.equal(directory.askerAt('10.0.0.99'), undefined);
});

test('<app>.internal: started machines on live hosts only, every region', () => {
  assert.deepEqual(ask('web.internal'), { rcode: 'NOERROR', data: ['fdaa::3', 'fdaa::5', 'fdaa::6'] });
});

test('<region>.<app>.internal: that region; an unknown region does not exist', () => {
  assert.deepEqual(ask('iad.web.internal'), { rcode: 'NOERROR', data: ['fdaa::5'] });
  assert.deepEqual(ask('sin.web.internal'), { rcode: 'NOERROR', data: [] }, 'a dead host answers nothing');
  assert.equal(ask('xyz.web.internal').rcode, 'NXDOMAIN');
});

test('top<N>.nearest.of: by the RTT matrix from the asking region, or by what the proxy measured', () => {
  assert.deepEqual(ask('top1.nearest.of.web.internal').data, ['fdaa::3']);
  assert.deepEqual(ask('top2.nearest.of.web.internal').data, ['fdaa::3', 'fdaa::5']);
  assert.deepEqual(ask('top9.nearest.of.web.internal').data, ['fdaa::3', 'fdaa::5', 'fdaa::6']);
  // Measured figures win over the matrix: here syd's host measured nearer than iad's.
  assert.deepEqual(ask('top2.nearest.of.web.internal', 'AAAA', { 'h-syd': 40, 'h-iad': 95 }).data, [
    'fdaa::3',
    'fdaa::6',
  ]);
});

test('<id>.vm.<app>.internal: that machine while started; a stopped one exists with no address', () => {
  assert.deepEqual(ask('w-iad.vm.web.internal'), { rcode: 'NOERROR', data: ['fdaa::5'] });
  assert.deepEqual(ask('w-off.vm.web.internal'), { rcode: 'NOERROR', data: [] });
  assert.equal(ask('nope.vm.web.internal').rcode, 'NXDOMAIN');
});

test('TXT lists: vms with regions, regions, and the org’s apps', () => {
  assert.deepEqual(ask('vms.web.internal', 'TXT').data, ['w-fra fra,w-iad iad,w-syd syd']);
  assert.deepEqual(ask('regions.web.internal', 'TXT').data, ['fra,iad,syd']);
  assert.deepEqual(ask('_apps.internal', 'TXT').data, ['api,web']);
});

test("another org's app is exactly a name that does not exist", () => {
  for (const name of [
    'other.internal',
    'fra.other.internal',
    'vms.other.internal',
    'r-fra.vm.other.internal',
  ])
    assert.deepEqual(
      internalAnswer({ name, type: 'AAAA' }, asker, directory),
      internalAnswer({ name: name.replace('other', 'ghost'), type: 'AAAA' }, asker, directory),
      name,
    );
  assert.equal(ask('other.internal').rcode, 'NXDOMAIN');
});

test('A questions for internal names: the name exists, with no IPv4 records', () => {
  assert.deepEqual(ask('web.internal', 'A'), { rcode: 'NOERROR', data: [] });
});
