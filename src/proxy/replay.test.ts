/** Fly-Replay directives and the choice of machine for replays and instance/region headers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Candidate, parseHeaderBlock, parseReplay, pickTarget, replaySource } from './replay.ts';

const machines: Candidate[] = [
  { id: 'aaa', region: 'fra', address: '10.0.0.2', port: 8080 },
  { id: 'bbb', region: 'fra', address: '10.0.0.3', port: 8080 },
  { id: 'ccc', region: 'ams', address: '10.0.0.4', port: 8080 },
];
const none = { forceInstance: false, regions: [], forceRegion: false };

test('a Fly-Replay header is parsed the way Fly documents it', () => {
  assert.deepEqual(parseReplay('region=fra,ams;instance=aaa;app=web;elsewhere=true;state=s1'), {
    regions: ['fra', 'ams'],
    instance: 'aaa',
    app: 'web',
    elsewhere: true,
    state: 's1',
  });
  assert.deepEqual(parseReplay('region=syd'), { regions: ['syd'], elsewhere: false });
});

test('the machine is picked by instance, region and elsewhere', () => {
  const byInstance = pickTarget(machines, { ...none, instance: 'bbb', forceInstance: true }, 'web');
  assert.ok('target' in byInstance && byInstance.target.id === 'bbb');
  const missing = pickTarget(machines, { ...none, instance: 'zzz', forceInstance: true }, 'web');
  assert.ok('status' in missing && missing.status === 503 && /zzz/.test(missing.message));
  const preferred = pickTarget(machines, { ...none, instance: 'zzz' }, 'web', () => 0);
  assert.ok(
    'target' in preferred && preferred.target.id === 'aaa',
    'a preferred instance that is gone: any other',
  );
  const inRegion = pickTarget(machines, { ...none, regions: ['ams'], forceRegion: true }, 'web', () => 0.99);
  assert.ok('target' in inRegion && inRegion.target.id === 'ccc');
  const noRegion = pickTarget(machines, { ...none, regions: ['syd'], forceRegion: true }, 'web');
  assert.ok('status' in noRegion && /region syd/.test(noRegion.message));
  for (let i = 0; i < 10; i++) {
    const elsewhere = pickTarget(machines.slice(0, 2), { ...none, exclude: 'aaa' }, 'web');
    assert.ok('target' in elsewhere && elsewhere.target.id === 'bbb');
  }
  const alone = pickTarget(machines.slice(0, 1), { ...none, exclude: 'aaa' }, 'web');
  assert.ok('status' in alone && alone.status === 503);
});

test("HAProxy's header block becomes headers without hop-by-hop ones; the source is Fly's format", () => {
  assert.deepEqual(
    parseHeaderBlock('host: web.localhost\r\nConnection: keep-alive\r\ncontent-length: 5\r\nX-A: 1\r\n\r\n'),
    [
      ['host', 'web.localhost'],
      ['x-a', '1'],
    ],
  );
  assert.deepEqual(
    parseHeaderBlock('x-ok: 1\r\nb\u00e4d name: 2\r\nx-ctl: a\u0001b\r\n: none\r\n'),
    [['x-ok', '1']],
    'lines that are no header are left out: sending them would fail the replay',
  );
  assert.equal(
    replaySource('aaa', 'fra', 's1', 1700000000000),
    'instance=aaa;region=fra;t=1700000000000000;state=s1',
  );
});
