import assert from 'node:assert/strict';
import { test } from 'node:test';
import { locate, median, type Peer, type Placement, rankRegions } from './placement.ts';

const peer = (host: string, region: string, rttMs?: number): Peer => ({
  host,
  region,
  backhaul: { host: `10.0.0.${host.length}`, port: 4443 },
  ...(rttMs !== undefined ? { rttMs } : {}),
});

const here = (peers: Peer[]): Placement => ({
  host: 'fra-1',
  region: 'fra',
  peers: new Map(peers.map((p) => [p.host, p])),
});

test('regions are ranked by the lowest RTT to any of their proxies; unmeasured ones last', () => {
  const placement = here([
    peer('syd-1', 'syd', 280),
    peer('ams-1', 'ams', 30),
    peer('ams-2', 'ams', 9),
    peer('gru-1', 'gru'),
    peer('fra-2', 'fra', 1),
  ]);
  assert.deepEqual(rankRegions(placement), ['ams', 'syd', 'gru']);
});

test('own host first, then own region, then other regions nearest first; dead hosts nowhere', () => {
  const placement = here([peer('fra-2', 'fra', 1), peer('ams-1', 'ams', 9), peer('syd-1', 'syd', 280)]);
  const ranks = rankRegions(placement);
  assert.deepEqual(locate(placement, 'fra-1', ranks), { tier: 0, rttMs: 0 });
  assert.equal(locate(placement, 'fra-2', ranks)?.tier, 1);
  assert.deepEqual(locate(placement, 'ams-1', ranks), {
    tier: 2,
    via: placement.peers.get('ams-1')?.backhaul,
    rttMs: 9,
  });
  assert.equal(locate(placement, 'syd-1', ranks)?.tier, 3);
  assert.equal(locate(placement, 'gone-1', ranks), undefined);
});

test('median of the RTT window', () => {
  assert.equal(median([]), undefined);
  assert.equal(median([5, 1, 100]), 5);
  assert.equal(median([4, 2, 8, 6]), 5);
});

test('regions keep their order until one is clearly nearer: no swap on noise', () => {
  const at = (b: number, c: number) => ({
    host: 'a',
    region: 'fra',
    peers: new Map([
      ['b', peer('b', 'ams', b)],
      ['c', peer('c', 'syd', c)],
    ]),
  });
  assert.deepEqual(rankRegions(at(0.4, 0.5)), ['ams', 'syd']);
  // Sub-millisecond noise on loopback, or 12 against 13 ms: the order stays.
  assert.deepEqual(rankRegions(at(0.6, 0.5), ['ams', 'syd']), ['ams', 'syd']);
  assert.deepEqual(rankRegions(at(13, 12), ['ams', 'syd']), ['ams', 'syd']);
  // Clearly nearer (by more than 2 ms and 20%): it passes.
  assert.deepEqual(rankRegions(at(40, 12), ['ams', 'syd']), ['syd', 'ams']);
  assert.deepEqual(rankRegions(at(4, 0.5), ['ams', 'syd']), ['syd', 'ams']);
  // A region measured for the first time passes unmeasured ones; a new region comes in by RTT.
  const unmeasured = {
    ...at(1, 1),
    peers: new Map([
      ['b', peer('b', 'ams')],
      ['c', peer('c', 'syd', 5)],
    ]),
  };
  assert.deepEqual(rankRegions(unmeasured, ['ams', 'syd']), ['syd', 'ams']);
  assert.deepEqual(rankRegions(at(6, 5), ['ams']), ['ams', 'syd']);
  assert.deepEqual(rankRegions(at(9, 5), []), ['syd', 'ams']);
});
