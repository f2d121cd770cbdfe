/** Reads the GeoDNS's tables from the operator's files and checks them against the RTT matrix before serving. */
import { readFileSync } from 'node:fs';
import { readRttMatrix } from '../world/matrix.ts';
import { edgeError } from './errors.ts';
import type { GeoTables } from './geo-answer.ts';
import { parseNetworksTable } from './networks-table.ts';
import { parseRegionsTable } from './regions-table.ts';

export interface GeoTableFiles {
  zone: string;
  networksFile: string;
  regionsFile: string;
  matrixFile?: string;
  fallback?: string;
}

/** @throws NearbyError EDGE_TABLE_INVALID, EDGE_UNKNOWN_REGION, WORLD_UNKNOWN_CITY, WORLD_MISSING_PAIR */
export function loadGeoTables(files: GeoTableFiles): GeoTables {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw edgeError(
        'EDGE_TABLE_INVALID',
        `cannot read ${file}: ${(error as Error).message}`,
        undefined,
        error,
      );
    }
  };
  const zone = files.zone.toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(zone))
    throw edgeError('EDGE_TABLE_INVALID', `'${files.zone}' is not a domain`, 'e.g. --zone apps.example.com');
  const networks = parseNetworksTable(read(files.networksFile), files.networksFile);
  const regions = parseRegionsTable(read(files.regionsFile), files.regionsFile);
  const matrix = readRttMatrix(files.matrixFile);
  // Every city and region must have RTTs to every region: checked now, not at the first query.
  for (const city of new Set([
    ...networks.entries.map((entry) => entry.city),
    ...regions.map((r) => r.region),
  ]))
    for (const { region } of regions) matrix.rtt(city, region);
  if (files.fallback !== undefined && !regions.some((entry) => entry.region === files.fallback))
    throw edgeError(
      'EDGE_UNKNOWN_REGION',
      `the fallback region '${files.fallback}' is not in ${files.regionsFile}`,
      `pick one of: ${regions.map((entry) => entry.region).join(', ')}`,
    );
  return { zone, networks, regions, matrix, fallback: files.fallback };
}
