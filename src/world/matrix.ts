/**
 * The measured round-trip times between cities (`data/rtt-matrix.tsv`): median RTTs from public
 * sources, each row tagged with the source its `# source:` line names. The world delays its links
 * by them, and its GeoDNS ranks regions by them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { worldError } from './errors.ts';

export const defaultMatrixFile = join(import.meta.dirname, '..', '..', 'data', 'rtt-matrix.tsv');

export interface RttMatrix {
  /** Every city the matrix names. */
  cities: string[];
  /** `tag → source line` from the file's `# source:` lines. */
  sources: Map<string, string>;
  /** The pair's RTT in ms and where it comes from; 0 for a city to itself. */
  rtt(from: string, to: string): { ms: number; source: string };
}

const pairKey = (a: string, b: string) => (a < b ? `${a}\t${b}` : `${b}\t${a}`);

/** Parses the matrix's text. @throws NearbyError WORLD_MATRIX_INVALID on a malformed line */
export function parseRttMatrix(text: string, file = 'rtt-matrix.tsv'): RttMatrix {
  const sources = new Map<string, string>();
  const pairs = new Map<string, { ms: number; source: string }>();
  const cities = new Set<string>();
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trimEnd();
    if (line === '') continue;
    const source = /^# source: (\S+) = (.*)$/.exec(line);
    if (source) {
      sources.set(source[1], source[2]);
      continue;
    }
    if (line.startsWith('#') || line.startsWith('from\t')) continue;
    const [from, to, ms, tag] = line.split('\t');
    const value = Number(ms);
    if (!from || !to || !tag || !Number.isFinite(value) || value <= 0)
      throw worldError(
        'WORLD_MATRIX_INVALID',
        `${file} line ${index + 1} is not 'from to rtt_ms source_tag'`,
      );
    if (!sources.has(tag))
      throw worldError(
        'WORLD_MATRIX_INVALID',
        `${file} line ${index + 1} names source '${tag}' with no # source: line`,
      );
    cities.add(from);
    cities.add(to);
    pairs.set(pairKey(from, to), { ms: value, source: tag });
  }
  const known = [...cities].sort();
  return {
    cities: known,
    sources,
    rtt(from, to) {
      for (const city of [from, to])
        if (!cities.has(city))
          throw worldError(
            'WORLD_UNKNOWN_CITY',
            `unknown city '${city}': ${file} has no RTT for it`,
            `pick cities among: ${known.join(', ')}`,
          );
      if (from === to) return { ms: 0, source: 'same city' };
      const pair = pairs.get(pairKey(from, to));
      if (!pair)
        throw worldError(
          'WORLD_MISSING_PAIR',
          `${file} has no RTT between ${from} and ${to}`,
          'add the pair with its source, or pick other cities',
        );
      return pair;
    },
  };
}

export function readRttMatrix(file = defaultMatrixFile): RttMatrix {
  return parseRttMatrix(readFileSync(file, 'utf8'), file);
}
