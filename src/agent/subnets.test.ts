import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../store/mod.ts';
import { claimHostSubnets } from './subnets.ts';

const pools = { ipv4: '172.20.0.0/23', ipv6: 'fdaa:0:100::/48' };

test('hosts claim distinct subnets, keep theirs across restarts, and a full pool says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-subnets-'));
  const store = new SqliteStore(join(dir, 'state.db'));
  t.after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const [a, b] = await Promise.all([
    claimHostSubnets(store, 'a', pools),
    claimHostSubnets(store, 'b', pools),
  ]);
  assert.notEqual(a.ipv4Cidr, b.ipv4Cidr);
  assert.notEqual(a.ipv6Cidr, b.ipv6Cidr);
  assert.deepEqual([a.ipv4Cidr, b.ipv4Cidr].sort(), ['172.20.0.0/24', '172.20.1.0/24']);
  assert.deepEqual(await claimHostSubnets(store, 'a', pools), a);
  await assert.rejects(claimHostSubnets(store, 'c', pools), { code: 'SUBNETS_EXHAUSTED' });
});
