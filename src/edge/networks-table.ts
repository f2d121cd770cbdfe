/**
 * The operator's table of networks to cities (`CIDR CITY` a line, IPv4 or IPv6, `#` comments):
 * where a resolver or an EDNS client subnet sits, so the GeoDNS knows whom it answers. The most
 * specific network that holds an address wins, as in a routing table.
 */
import { BlockList, isIP } from 'node:net';
import { edgeError } from './errors.ts';

export interface NetworkEntry {
  cidr: string;
  city: string;
}

export interface NetworksTable {
  entries: NetworkEntry[];
  /** The city of the most specific network holding `address`, or undefined (not in the table). */
  cityOf(address: string): { city: string; cidr: string } | undefined;
}

const CITY = /^[a-z]{3}$/;

/** @throws NearbyError EDGE_TABLE_INVALID on a malformed line */
export function parseNetworksTable(text: string, file = 'networks table'): NetworksTable {
  const parsed: { cidr: string; city: string; length: number; list: BlockList; family: 'ipv4' | 'ipv6' }[] =
    [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [cidr, city, extra] = line.split(/\s+/);
    const [address, lengthText] = (cidr ?? '').split('/');
    const version = isIP(address ?? '');
    const length = Number(lengthText);
    const bad = (why: string) =>
      edgeError(
        'EDGE_TABLE_INVALID',
        `${file} line ${index + 1}: ${why}`,
        'each line is `CIDR CITY`, e.g. `203.0.113.0/24 fra` (a three-letter city of data/rtt-matrix.tsv)',
      );
    if (extra !== undefined || city === undefined) throw bad('expected two fields');
    if (version === 0 || !Number.isInteger(length) || length < 0 || length > (version === 4 ? 32 : 128))
      throw bad(`'${cidr}' is not a network`);
    if (!CITY.test(city)) throw bad(`'${city}' is not a city code`);
    const family = version === 4 ? 'ipv4' : 'ipv6';
    const list = new BlockList();
    list.addSubnet(address, length, family);
    parsed.push({ cidr, city, length, list, family });
  }
  // Longest prefix first: the first network that holds an address is the most specific.
  const ordered = [...parsed].sort((a, b) => b.length - a.length);
  return {
    entries: parsed.map(({ cidr, city }) => ({ cidr, city })),
    cityOf(address) {
      const plain = address.replace(/^::ffff:(?=\d+\.)/, '');
      const version = isIP(plain);
      if (version === 0) return undefined;
      const family = version === 4 ? 'ipv4' : 'ipv6';
      const hit = ordered.find((entry) => entry.family === family && entry.list.check(plain, family));
      return hit && { city: hit.city, cidr: hit.cidr };
    },
  };
}
