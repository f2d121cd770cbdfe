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

export class Histogram {
  readonly name: string;
  readonly help: string;
  readonly buckets: number[];
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, buckets = DEFAULT_BUCKETS) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }

  observe(labels: Labels, value: number): void {
    this.series(labels).observe(value);
  }

  /** The series for these labels, to keep and observe without looking it up again (hot paths). */
  series(labels: Labels): { observe(value: number): void } {
    const key = labelText(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      series = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(key, series);
    }
    const found = series;
    const { buckets } = this;
    return {
      observe(value: number) {
        for (let i = 0; i < buckets.length; i++) if (value <= buckets[i]) found.counts[i]++;
        found.sum += value;
        found.count++;
      },
    };
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, count } of this.#series.values()) {
      this.buckets.forEach((bound, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...labels, le: String(bound) })} ${counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...labels, le: '+Inf' })} ${count}`);
      lines.push(`${this.name}_sum${labelText(labels)} ${sum}`);
      lines.push(`${this.name}_count${labelText(labels)} ${count}`);
    }
    return lines.join('\n');
  }
}

/** Every metric nearby's proxy keeps itself; HAProxy's exporter has the rest (per backend = per app). */
export class ProxyMetrics {
  readonly requests = new Counter(
    'nearby_http_requests_total',
    'HTTP requests through the edge proxy, by app, region and status class',
  );
  readonly duration = new Histogram(
    'nearby_http_request_duration_seconds',
    'Time from the first byte of the request to the last byte of the response, by app and region',
  );
  readonly wakes = new Counter(
    'nearby_proxy_wakes_total',
    'Stopped or suspended machines started for a request',
  );
  readonly replays = new Counter(
    'nearby_proxy_replays_total',
    'Requests replayed because of a Fly-Replay header',
  );

  render(): string {
    return `${[this.requests, this.duration, this.wakes, this.replays].map((metric) => metric.render()).join('\n')}\n`;
  }
}
