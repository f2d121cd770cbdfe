/**
 * The GeoDNS's edge checks (`nearby dns serve --check-edges`): every edge address of the regions
 * table is probed each interval; one that fails `fall` probes in a row is left out of the answers
 * until it passes `rise` in a row. A region whose edges all fail is skipped like an emptied line,
 * so its users get the next nearest region; if every edge fails, the table is answered whole
 * (an answer that may work beats none). The Anycast announcer probes its edge the same way.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { GeoTables } from './geo-answer.ts';

/** Any HTTP answer within the timeout is healthy (an edge answers unknown hosts with 404). */
export async function probeEdge(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

export interface EdgeChecks {
  /** The tables without the edges that are down. */
  healthy(tables: GeoTables): GeoTables;
}

export function checkEdges(
  tables: () => GeoTables,
  options: { intervalMs: number; fall: number; rise: number; port?: number; log: (line: string) => void },
  signal: AbortSignal,
): EdgeChecks {
  const down = new Set<string>();
  const streaks = new Map<string, number>();
  const url = (address: string) =>
    `http://${address.includes(':') ? `[${address}]` : address}:${options.port ?? 80}/`;
  (async () => {
    while (!signal.aborted) {
      const addresses = [...new Set(tables().regions.flatMap((entry) => entry.addresses))];
      await Promise.all(
        addresses.map(async (address) => {
          const up = await probeEdge(url(address), options.intervalMs);
          // A streak counts probes that disagree with what is believed now.
          const streak = up === !down.has(address) ? 0 : (streaks.get(address) ?? 0) + 1;
          streaks.set(address, streak);
          if (streak < (up ? options.rise : options.fall)) return;
          streaks.set(address, 0);
          if (up) down.delete(address);
          else down.add(address);
          options.log(`edge ${address} ${up ? 'passes its checks again' : 'fails its checks: left out'}`);
        }),
      );
      await delay(options.intervalMs, undefined, { signal }).catch(() => undefined);
    }
  })();
  return {
    healthy(current) {
      if (down.size === 0) return current;
      const regions = current.regions.map((entry) => ({
        ...entry,
        addresses: entry.addresses.filter((address) => !down.has(address)),
      }));
      return regions.some((entry) => entry.addresses.length > 0) ? { ...current, regions } : current;
    },
  };
}
