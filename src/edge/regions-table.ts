/**
 * The operator's table of regions to edge addresses (`REGION ADDRESS [ADDRESS…]` a line, `#`
 * comments): what the GeoDNS answers for a region. A region listed with no address is known but
 * skipped (no healthy edge), so clients go to the next nearest.
 */
import { isIP } from 'node:net';
import { edgeError } from './errors.ts';

export interface RegionEdges {
  region: string;
  addresses: string[];
}

/** In file order (the first region is the default fallback). @throws NearbyError EDGE_TABLE_INVALID */
export function parseRegionsTable(text: string, file = 'regions table'): RegionEdges[] {
  const regions: RegionEdges[] = [];
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const [region, ...addresses] = line.split(/\s+/);
    const bad = (why: string) =>
      edgeError(
        'EDGE_TABLE_INVALID',
        `${file} line ${index + 1}: ${why}`,
        'each line is `REGION ADDRESS…`, e.g. `fra 203.0.113.10 2001:db8::10`',
      );
    if (!/^[a-z]{3}$/.test(region)) throw bad(`'${region}' is not a region code`);
    if (regions.some((known) => known.region === region)) throw bad(`region ${region} is listed twice`);
    for (const address of addresses) if (isIP(address) === 0) throw bad(`'${address}' is not an address`);
    regions.push({ region, addresses });
  }
  if (regions.length === 0)
    throw edgeError('EDGE_TABLE_INVALID', `${file} lists no region`, 'add a line `REGION ADDRESS…`');
  return regions;
}
