/**
 * How long this proxy's wakes of an app's near machines took (this host's or this region's): a
 * moving median per app, the "cold near" side of the warm-far-or-cold-near rule (warm-or-cold.ts).
 */
import { median } from './placement.ts';

/** Enough wakes to smooth one slow start, few enough to follow a new image within minutes. */
export const WAKE_WINDOW = 7;

export class WakeTimes {
  readonly #samples = new Map<string, number[]>();

  /** A wake of `app` took `ms` (a failed one counts as the whole wake timeout). */
  record(app: string, ms: number): void {
    const samples = this.#samples.get(app) ?? [];
    samples.push(ms);
    if (samples.length > WAKE_WINDOW) samples.shift();
    this.#samples.set(app, samples);
  }

  /** The median of the app's last wakes; undefined before its first. */
  medianMs(app: string): number | undefined {
    return median(this.#samples.get(app) ?? []);
  }
}
