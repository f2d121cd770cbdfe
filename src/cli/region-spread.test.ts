import assert from 'node:assert/strict';
import { test } from 'node:test';
import { additions, evenTargets, nearestTargets, parseRegions, type RegionCounts } from './region-spread.ts';

const counts = (entries: Record<string, number>): RegionCounts => new Map(Object.entries(entries));
const plain = (map: RegionCounts) => Object.fromEntries(map);

test('an even spread over the listed regions counts the machines already there', () => {
  const regions = ['iad', 'fra', 'syd'];
  assert.deepEqual(plain(evenTargets(regions, counts({}), 6)), { iad: 2, fra: 2, syd: 2 });
  // 3 in fra already: one of them moves, so that each region has 2.
  const fra3 = counts({ fra: 3 });
  assert.deepEqual(plain(evenTargets(regions, fra3, 6)), { iad: 2, fra: 2, syd: 2 });
  assert.deepEqual(additions(fra3, evenTargets(regions, fra3, 6)), ['iad', 'syd', 'iad', 'syd']);
  // The remainder goes to the regions that hold more now, so fewer machines move.
  assert.deepEqual(plain(evenTargets(regions, counts({ syd: 2, fra: 1 }), 4)), { iad: 1, fra: 1, syd: 2 });
  assert.deepEqual(plain(evenTargets(regions, counts({}), 4)), { iad: 2, fra: 1, syd: 1 });
  // Scaling down removes from the most populated regions.
  assert.deepEqual(plain(evenTargets(regions, counts({ iad: 2, fra: 2, syd: 2 }), 4)), {
    iad: 2,
    fra: 1,
    syd: 1,
  });
  assert.deepEqual(plain(evenTargets(regions, counts({ iad: 1, fra: 3, syd: 2 }), 3)), {
    iad: 1,
    fra: 1,
    syd: 1,
  });
  assert.deepEqual(plain(evenTargets(['fra'], counts({ fra: 3 }), 0)), { fra: 0 });
});

test('without regions named, machines go to the emptiest region and leave the fullest; none moves', () => {
  const regions = ['fra', 'iad', 'syd'];
  assert.deepEqual(plain(nearestTargets(regions, counts({ fra: 3, iad: 1, syd: 0 }), 6)), {
    fra: 3,
    iad: 2,
    syd: 1,
  });
  assert.deepEqual(plain(nearestTargets(regions, counts({ fra: 3, iad: 1, syd: 1 }), 3)), {
    fra: 1,
    iad: 1,
    syd: 1,
  });
  // Ties: added to the first region (the primary), removed from the last.
  assert.deepEqual(plain(nearestTargets(regions, counts({ fra: 1, iad: 1, syd: 1 }), 4)), {
    fra: 2,
    iad: 1,
    syd: 1,
  });
  assert.deepEqual(plain(nearestTargets(regions, counts({ fra: 1, iad: 1, syd: 1 }), 2)), {
    fra: 1,
    iad: 1,
    syd: 0,
  });
});

test('--region lists are trimmed and deduplicated', () => {
  assert.deepEqual(parseRegions('iad, fra,,syd,iad'), ['iad', 'fra', 'syd']);
  assert.deepEqual(parseRegions(' , '), []);
});
