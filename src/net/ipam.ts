/**
 * Address management: the bridge takes the first IPv4 of the subnet and `<prefix>::1`; a machine
 * gets a free host address and the IPv6 made of the prefix plus the same host part.
 */
import { addressesExhausted, invalidCidr } from './errors.ts';
import type { MachineAddresses } from './types.ts';

export interface Ipv4Subnet {
  network: number;
  prefixLength: number;
  size: number;
}

export function ipv4ToInt(address: string): number {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw invalidCidr(address, 'not an IPv4 address');
  }
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function intToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

export function parseIpv4Cidr(cidr: string): Ipv4Subnet {
  const [address, length] = cidr.split('/');
  const prefixLength = Number(length);
  if (!address || !Number.isInteger(prefixLength) || prefixLength < 8 || prefixLength > 30) {
    throw invalidCidr(cidr, 'expected a.b.c.d/N with N between 8 and 30');
  }
  const size = 2 ** (32 - prefixLength);
  const network = ipv4ToInt(address) - (ipv4ToInt(address) % size);
  return { network, prefixLength, size };
}

/** The /64 prefix as its first four groups, e.g. `fdaa:0:1:0`. */
export function parseIpv6Prefix(cidr: string): string {
  const [address, length] = cidr.split('/');
  if (!address || length !== '64' || !address.includes(':')) throw invalidCidr(cidr, 'expected an IPv6 /64');
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = address.includes('::')
    ? [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  if (groups.length !== 8) throw invalidCidr(cidr, 'malformed IPv6 address');
  return groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':');
}

/** RFC 5952 text: lower-case groups, the longest run (2+) of zero groups written as `::`. */
export function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const text = groups.map((g) => g.toString(16));
  if (bestStart < 0) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}

/** `<prefix>::<offset>` where offset is the IPv4 host part (offset 1 = the bridge). */
export function ipv6ForOffset(prefix: string, offset: number): string {
  const head = prefix.split(':').map((g) => Number.parseInt(g, 16));
  return formatIpv6([...head, 0, 0, Math.floor(offset / 65536), offset % 65536]);
}

export function gatewayAddresses(ipv4Cidr: string, ipv6Cidr: string): MachineAddresses {
  const subnet = parseIpv4Cidr(ipv4Cidr);
  return { ipv4: intToIpv4(subnet.network + 1), ipv6: ipv6ForOffset(parseIpv6Prefix(ipv6Cidr), 1) };
}

/** The first free address: skips the network, the bridge (first host) and the broadcast address. */
export function allocateAddresses(
  ipv4Cidr: string,
  ipv6Cidr: string,
  inUse: Iterable<string>,
): MachineAddresses {
  const subnet = parseIpv4Cidr(ipv4Cidr);
  const prefix = parseIpv6Prefix(ipv6Cidr);
  const taken = new Set(inUse);
  for (let offset = 2; offset < subnet.size - 1; offset++) {
    const ipv4 = intToIpv4(subnet.network + offset);
    const ipv6 = ipv6ForOffset(prefix, offset);
    if (!taken.has(ipv4) && !taken.has(ipv6)) return { ipv4, ipv6 };
  }
  throw addressesExhausted(ipv4Cidr);
}
