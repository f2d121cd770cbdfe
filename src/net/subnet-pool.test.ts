import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4Pool, ipv6Pool } from './subnet-pool.ts';

test('an IPv4 /16 pool holds 256 host /24s, counted from its network', () => {
  const pool = ipv4Pool('172.20.0.0/16');
  assert.equal(pool.count, 256);
  assert.equal(pool.nth(0), '172.20.0.0/24');
  assert.equal(pool.nth(255), '172.20.255.0/24');
});

test('an IPv6 /48 pool gives /64s in its fourth group', () => {
  const pool = ipv6Pool('fdaa:0:100::/48');
  assert.equal(pool.nth(0), 'fdaa:0:100::/64');
  assert.equal(pool.nth(3), 'fdaa:0:100:3::/64');
  assert.equal(pool.nth(0x1234), 'fdaa:0:100:1234::/64');
});

test('pools smaller than a host subnet are refused with the reason', () => {
  assert.throws(() => ipv4Pool('10.0.0.0/25'), /\/24 or larger/);
  assert.throws(() => ipv6Pool('fdaa::/64'), /IPv6 pool/);
});
