/**
 * How far a machine is from the asking one, for `top<N>.nearest.of.<app>.internal`: 0 on the same
 * host; else what this host's proxy measured to the machine's host (`proxies/<host>.rtt_ms`, the
 * numbers the proxy ranks regions by); else the RTT matrix between the two regions
 * (`data/rtt-matrix.tsv`, src/world/matrix.ts); else 0 in the same region; else unknown (last).
 */
import type { RttMatrix } from '../world/matrix.ts';
import type { Asker, NamedMachine } from './directory.ts';

export interface DistanceSources {
  /** This host's proxy's median RTT to each other host's proxy, by host name. */
  measured?: Readonly<Record<string, number>>;
  matrix?: RttMatrix;
}

/** Milliseconds from `asker` to `machine`; Infinity when nothing says. */
export function distanceMs(asker: Asker, machine: NamedMachine, sources: DistanceSources): number {
  if (machine.host === asker.host) return 0;
  const measured = sources.measured?.[machine.host];
  if (measured !== undefined && Number.isFinite(measured)) return measured;
  if (machine.region === undefined) return Number.POSITIVE_INFINITY;
  if (sources.matrix) {
    try {
      return sources.matrix.rtt(asker.region, machine.region).ms;
    } catch {
      // A region the matrix does not name (a region code of the operator's own): fall through.
    }
  }
  return machine.region === asker.region ? 0 : Number.POSITIVE_INFINITY;
}

/** The `count` nearest of `machines`: by distance, then this host first, then region and id (stable answers). */
export function nearestMachines(
  asker: Asker,
  machines: readonly NamedMachine[],
  count: number,
  sources: DistanceSources,
): NamedMachine[] {
  const ranked = machines.map((machine) => ({
    machine,
    ms: distanceMs(asker, machine, sources),
    away: machine.host === asker.host ? 0 : 1,
  }));
  ranked.sort(
    (a, b) =>
      a.ms - b.ms ||
      a.away - b.away ||
      (a.machine.region ?? '').localeCompare(b.machine.region ?? '') ||
      a.machine.id.localeCompare(b.machine.id),
  );
  return ranked.slice(0, count).map((entry) => entry.machine);
}
