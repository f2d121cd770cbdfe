import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { allocateAddresses, gatewayAddresses, parseIpv6Prefix } from './ipam.ts';

describe('ipam', () => {
  it('gives the bridge the first addresses', () => {
    assert.deepEqual(gatewayAddresses('10.7.0.0/24', 'fdaa:0:7::/64'), {
      ipv4: '10.7.0.1',
      ipv6: 'fdaa:0:7::1',
    });
  });

  it('skips network, bridge and addresses in use; IPv6 carries the IPv4 host part', () => {
    assert.deepEqual(allocateAddresses('10.7.0.0/24', 'fdaa:0:7::/64', []), {
      ipv4: '10.7.0.2',
      ipv6: 'fdaa:0:7::2',
    });
    assert.deepEqual(allocateAddresses('10.7.0.0/24', 'fdaa:0:7::/64', ['10.7.0.2', '10.7.0.3']), {
      ipv4: '10.7.0.4',
      ipv6: 'fdaa:0:7::4',
    });
    assert.equal(allocateAddresses('172.19.0.0/16', 'fdaa::/64', ipsUpTo(300)).ipv6, 'fdaa::12d');
  });

  it('never hands out the broadcast address and reports exhaustion', () => {
    const cidr = '10.9.0.0/29'; // .0 network, .1 bridge, .2–.6 machines, .7 broadcast
    const used = ['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5'];
    assert.equal(allocateAddresses(cidr, 'fd00::/64', used).ipv4, '10.9.0.6');
    assert.throws(
      () => allocateAddresses(cidr, 'fd00::/64', [...used, '10.9.0.6']),
      (error: unknown) => isNearbyError(error, 'NETWORK_ADDRESSES_EXHAUSTED'),
    );
  });

  it('rejects subnets it cannot use', () => {
    assert.throws(
      () => parseIpv6Prefix('fd00::/48'),
      (error: unknown) => isNearbyError(error, 'NETWORK_CIDR_INVALID'),
    );
    assert.throws(
      () => allocateAddresses('10.0.0.0/33', 'fd00::/64', []),
      (error: unknown) => isNearbyError(error, 'NETWORK_CIDR_INVALID'),
    );
  });
});

function ipsUpTo(n: number): string[] {
  return Array.from({ length: n - 1 }, (_, i) => `172.19.${Math.floor((i + 2) / 256)}.${(i + 2) % 256}`);
}
