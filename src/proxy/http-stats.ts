/**
 * Per-app request counts by status class and latency histograms, taken from HAProxy's own
 * counters when `/metrics` is scraped, so that Node does nothing per request (DESIGN.md §4):
 * `show stat` (each app backend's `hrsp_*`) and a stick table that every app backend counts
 * its responses into, one entry per app and latency bucket.
 */
import { appOfBackend } from './access-log.ts';
import { Counter, DEFAULT_BUCKETS } from './metrics.ts';
import type { RuntimeApi } from './runtime-api.ts';

export const LATENCY_TABLE = 'nearby_latency';
const ms = (seconds: number) => Math.round(seconds * 1000);

/** `map_int` ranges, in ms, to the bucket's upper bound in seconds (Prometheus `le`). */
export function renderLatencyMap(): string {
  let low = 0;
  return DEFAULT_BUCKETS.map((bound) => {
    const line = `${low}:${ms(bound)} ${bound}\n`;
    low = ms(bound) + 1;
    return line;
  }).join('');
}

/**
 * Lines for an app's HTTP backend: the time from routing the request to the machine's answer
 * (HAProxy 2.6 has no timer fetch at response time: two dates), counted in its bucket.
 */
export function latencyLines(app: string, latencyMap: string): string[] {
  return [
    '  http-request set-var(txn.nb_t0) date(0,ms)',
    `  http-response set-var(txn.nb_le) date(0,ms),sub(txn.nb_t0),map_int("${latencyMap}",+Inf)`,
    `  http-response track-sc2 str(${app}),concat(;,txn.nb_le) table ${LATENCY_TABLE}`,
    '  http-response sc-inc-gpc0(2)',
  ];
}

export function latencyTableLines(): string[] {
  // No expiry: an entry is a counter. 10 000 apps × 12 buckets fit.
  return ['', `backend ${LATENCY_TABLE}`, '  stick-table type string len 80 size 120k store gpc0'];
}

export interface HttpSample {
  /** `app;status_class` → responses. */
  requests: Map<string, number>;
  /** `app;le` → responses in that bucket (not cumulative). */
  latency: Map<string, number>;
}

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

export function parseBackendStats(csv: string): Map<string, number> {
  const lines = csv.split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const [px, sv] = [header.indexOf('pxname'), header.indexOf('svname')];
  const columns = STATUS_CLASSES.map((name) => header.indexOf(`hrsp_${name}`));
  const requests = new Map<string, number>();
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    if (fields.length < header.length - 1 || fields[sv] !== 'BACKEND') continue;
    const app = fields[px] === 'nearby_no_app' ? '-' : appOfBackend(fields[px]);
    if (app === undefined) continue;
    STATUS_CLASSES.forEach((name, i) => {
      const value = Number(fields[columns[i]]) || 0;
      const key = `${app};${name}`;
      if (value > 0 || requests.has(key)) requests.set(key, (requests.get(key) ?? 0) + value);
    });
  }
  return requests;
}

/** `show table`: `0x…: key=<app>;<le> use=0 exp=0 gpc0=<n>` lines. */
export function parseLatencyTable(answer: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const match of answer.matchAll(/ key=(\S+) .*?gpc0=(\d+)/g)) counts.set(match[1], Number(match[2]));
  return counts;
}

/**
 * Counters that survive HAProxy's: a worker started by a reload or restart counts from zero, so
 * a value lower than the last one seen means a new worker and the last one is carried over.
 */
export class CarriedCounters {
  readonly #last = new Map<string, number>();
  readonly #carried = new Map<string, number>();

  update(sample: Map<string, number>): Map<string, number> {
    const total = new Map<string, number>();
    for (const key of new Set([...sample.keys(), ...this.#last.keys()])) {
      const value = sample.get(key) ?? 0;
      const last = this.#last.get(key) ?? 0;
      if (value < last) this.#carried.set(key, (this.#carried.get(key) ?? 0) + last);
      this.#last.set(key, value);
      total.set(key, (this.#carried.get(key) ?? 0) + value);
    }
    return total;
  }
}

export class HttpStats {
  readonly #api: RuntimeApi;
  readonly #region: string;
  readonly #requests = new CarriedCounters();
  readonly #latency = new CarriedCounters();
  #totals: HttpSample = { requests: new Map(), latency: new Map() };

  constructor(api: RuntimeApi, region: string) {
    this.#api = api;
    this.#region = region;
  }

  /** Reads HAProxy's counters now (before a reload too, so that little is lost with the old worker). */
  async sample(): Promise<void> {
    const [stat, table] = await Promise.all([
      this.#api.command('show stat -1 2 -1'),
      this.#api.command(`show table ${LATENCY_TABLE}`),
    ]);
    this.#totals = {
      requests: this.#requests.update(parseBackendStats(stat)),
      latency: this.#latency.update(parseLatencyTable(table)),
    };
  }

  render(): string {
    const region = this.#region;
    const requests = new Counter(
      'nearby_http_requests_total',
      'HTTP responses of app backends, by app, region and status class (app "-": no such app)',
    );
    for (const [key, value] of this.#totals.requests) {
      const [app, statusClass] = key.split(';');
      requests.inc({ app, region, status_class: statusClass }, value);
    }
    const name = 'nearby_http_request_duration_seconds';
    const lines = [
      `# HELP ${name} Time from routing a request to the machine's response head, by app and region`,
      `# TYPE ${name} histogram`,
    ];
    const byApp = new Map<string, Map<string, number>>();
    for (const [key, value] of this.#totals.latency) {
      const [app, le] = key.split(';');
      if (!byApp.has(app)) byApp.set(app, new Map());
      byApp.get(app)?.set(le, value);
    }
    for (const [app, buckets] of byApp) {
      let cumulative = 0;
      for (const bound of DEFAULT_BUCKETS) {
        cumulative += buckets.get(String(bound)) ?? 0;
        lines.push(`${name}_bucket{app="${app}",region="${region}",le="${bound}"} ${cumulative}`);
      }
      const count = cumulative + (buckets.get('+Inf') ?? 0);
      lines.push(`${name}_bucket{app="${app}",region="${region}",le="+Inf"} ${count}`);
      lines.push(`${name}_count{app="${app}",region="${region}"} ${count}`);
    }
    return `${requests.render()}\n${lines.join('\n')}\n`;
  }
}
