import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { claimIdRange, hostIdOf, ID_RANGE_BASE, ID_RANGE_SIZE, releaseIdRange } from './id-ranges.ts';

describe('host id ranges', () => {
  let work: string;
  let ranges: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'nearby-ids-'));
    ranges = join(work, 'ranges');
  });
  after(() => rm(work, { recursive: true, force: true }));

  /** An owner is a sandbox record's path: it exists while the sandbox does. */
  async function owner(name: string): Promise<string> {
    const path = join(work, `${name}.json`);
    await writeFile(path, '{}');
    return path;
  }

  it('gives concurrent claims distinct ranges, the same one again to its owner, and frees on release', async () => {
    const owners = await Promise.all(Array.from({ length: 8 }, (_, i) => owner(`m${i}`)));
    const ids = await Promise.all(owners.map((o) => claimIdRange(ranges, o)));
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) {
      assert.ok(id >= ID_RANGE_BASE && (id - ID_RANGE_BASE) % ID_RANGE_SIZE === 0);
      assert.ok(id + ID_RANGE_SIZE - 1 <= 2 ** 32 - 2, 'inside the 32-bit id space, below (uid_t)-1');
    }
    // A restart asks for its recorded range and gets it back.
    assert.equal(await claimIdRange(ranges, owners[3], ids[3]), ids[3]);
    // Another owner asking for a taken range gets a free one instead.
    const other = await owner('other');
    const moved = await claimIdRange(ranges, other, ids[3]);
    assert.ok(!ids.includes(moved));

    await releaseIdRange(ranges, owners[0], ids[0]);
    await releaseIdRange(ranges, other, ids[1]); // not its range: nothing happens
    assert.equal((await readdir(ranges)).length, ids.length);
    // The freed range is the lowest free one again (concurrent claims take slots in any order).
    assert.equal(await claimIdRange(ranges, await owner('next'), undefined), ids[0]);
  });

  it('takes back the range of a sandbox whose record is gone, once the claim is old', async () => {
    const dir = join(work, 'stale');
    const gone = join(work, 'gone.json');
    await claimIdRange(dir, gone); // slot 0, its owner never written
    const fresh = await claimIdRange(dir, await owner('fresh-1'));
    assert.equal(fresh, hostIdOf(1), 'a young claim is left alone (its record is being written)');
    const old = new Date(Date.now() - 120_000);
    await utimes(join(dir, '0'), old, old);
    // Free slots go first; a stale one is taken back when asked for (or when none is free).
    assert.equal(await claimIdRange(dir, await owner('fresh-2')), hostIdOf(2));
    assert.equal(await claimIdRange(dir, await owner('fresh-3'), hostIdOf(0)), hostIdOf(0));
  });
});
