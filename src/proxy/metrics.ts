/**
 * nearby's own Prometheus metrics (beside HAProxy's exporter): counters and histograms with
 * labels, rendered in the text exposition format. Small on purpose: no dependency for ~60 lines.
 */

export type Labels = Record<string, string>;

const escapeLabel = (value: string) =>
  value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}`;
};

export class Counter {
  readonly name: string;
  readonly help: string;
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).value += by;
  }

  /** The series for these labels, to keep and increment without looking it up again (hot paths). */
  series(labels: Labels): { value: number } {
    const key = labelText(labels);
    let entry = this.#values.get(key);
    if (entry === undefined) {
      entry = { labels, value: 0 };
      this.#values.set(key, entry);
    }
    return entry;
  }

  value(labels: Labels = {}): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.#values.values())
      lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

/** Seconds; buckets suited to HTTP through a proxy (5 ms … 10 s). */
export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The metrics nearby's proxy keeps itself (events handled in Node); HAProxy's exporter and
 * http-stats.ts have the per-request ones.
 */
export class ProxyMetrics {
  readonly wakes = new Counter(
    'nearby_proxy_wakes_total',
    'Stopped or suspended machines started for a request',
  );
  readonly replays = new Counter(
    'nearby_proxy_replays_total',
    'Requests replayed because of a Fly-Replay header',
  );

  /** Route syncs with HAProxy, by kind: `full` (everything) or `incremental` (the apps that changed). */
  readonly syncPasses = new Counter('nearby_proxy_sync_passes_total', 'Route sync passes, by kind');
  readonly syncPassSeconds = new Counter(
    'nearby_proxy_sync_pass_seconds_total',
    'Time spent in route sync passes, by kind',
  );

  render(): string {
    const all = [this.wakes, this.replays, this.syncPasses, this.syncPassSeconds];
    return `${all.map((metric) => metric.render()).join('\n')}\n`;
  }
}
