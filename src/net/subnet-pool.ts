/**
 * Carving a cluster's address pools into host subnets: the n-th IPv4 /24 of a pool (a /16, say)
 * and the n-th IPv6 /64 of a /48. Pure arithmetic; the store decides who gets which (agent/subnets.ts).
 */
import { invalidCidr } from './errors.ts';
import { formatIpv6, intToIpv4, parseIpv4Cidr } from './ipam.ts';

export const HOST_PREFIX4 = 24;
export const HOST_PREFIX6 = 64;

/** How many host subnets the pool holds, and the n-th of them. */
export interface SubnetPool {
  count: number;
  nth(index: number): string;
}

export function ipv4Pool(cidr: string): SubnetPool {
  const pool = parseIpv4Cidr(cidr);
  if (pool.prefixLength > HOST_PREFIX4) throw invalidCidr(cidr, `a pool must be /${HOST_PREFIX4} or larger`);
  const step = 2 ** (32 - HOST_PREFIX4);
  return {
    count: pool.size / step,
    nth: (index) => `${intToIpv4(pool.network + index * step)}/${HOST_PREFIX4}`,
  };
}

export function ipv6Pool(cidr: string): SubnetPool {
  const [address = '', length] = cidr.split('/');
  const prefixLength = Number(length);
  if (!address.includes(':') || !Number.isInteger(prefixLength) || prefixLength < 16 || prefixLength > 60)
    throw invalidCidr(cidr, 'expected an IPv6 pool such as fdaa:0:100::/48');
  const groups = expandIpv6(address, cidr);
  // The first 64 bits as one bigint; host subnets count up in the bits between the pool's prefix and 64.
  let high = 0n;
  for (const group of groups.slice(0, 4)) high = (high << 16n) | BigInt(group);
  const free = BigInt(64 - prefixLength);
  high = (high >> free) << free;
  const count = 2 ** Math.min(64 - prefixLength, 20);
  return {
    count,
    nth(index) {
      const value = high + BigInt(index);
      const head = [48n, 32n, 16n, 0n].map((shift) => Number((value >> shift) & 0xffffn));
      return `${formatIpv6([...head, 0, 0, 0, 0])}/${HOST_PREFIX6}`;
    },
  };
}

function expandIpv6(address: string, cidr: string): number[] {
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const texts = address.includes('::')
    ? [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  const groups = texts.map((text) => Number.parseInt(text, 16));
  if (groups.length !== 8 || groups.some((g) => !(g >= 0 && g <= 0xffff)))
    throw invalidCidr(cidr, 'malformed IPv6 address');
  return groups;
}
