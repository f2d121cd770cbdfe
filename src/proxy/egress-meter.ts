/**
 * Egress metering at the edge (docs/billing.md): the bytes HAProxy sent to users for each app, by
 * this proxy's region. Every app backend tracks its requests and connections in a stick table
 * (`nearby_egress`, `bytes_out_cnt` per app) unless they came in over the backhaul: a request that
 * entered at another proxy is counted there, so each byte a user downloaded is counted once. Every
 * interval the proxy reads the table and adds what is new to its own usage record,
 * `usage/<org>/<month>/<app>/<host>/edge` (only this proxy writes it; the same accrual as the
 * agent's meter: totals, compare-and-set, a counter that restarts with the proxy).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { billingNow } from '../billing/clock.ts';
import { monthOf } from '../billing/meter.ts';
import { addUsage, METER_INTERVAL_MS } from '../billing/meter-loop.ts';
import { errorMessage } from '../errors.ts';
import type { Store } from '../store/types.ts';
import { CarriedCounters } from './http-stats.ts';
import type { RuntimeApi } from './runtime-api.ts';

export const EGRESS_TABLE = 'nearby_egress';

export const edgeUsageKey = (org: string, month: string, app: string, host: string): string =>
  `usage/${org}/${month}/${app}/${host}/edge`;

/** An app backend's line: its traffic counted per app, except what arrived over the backhaul. */
export function egressLine(app: string, mode: 'http' | 'tcp'): string {
  return mode === 'http'
    ? `  http-request track-sc1 str(${app}) table ${EGRESS_TABLE} unless { fe_name nearby_backhaul }`
    : `  tcp-request content track-sc1 str(${app}) table ${EGRESS_TABLE} unless { fe_name nearby_backhaul_tcp }`;
}

export function egressTableLines(): string[] {
  // No expiry: an entry is a counter (one per app).
  return ['', `backend ${EGRESS_TABLE}`, '  stick-table type string len 64 size 20k store bytes_out_cnt'];
}

/** `show table nearby_egress`: `0x…: key=<app> use=0 exp=0 bytes_out_cnt=<n>` lines. */
export function parseEgressTable(answer: string): Map<string, number> {
  const bytes = new Map<string, number>();
  for (const match of answer.matchAll(/ key=(\S+) .*?bytes_out_cnt=(\d+)/g))
    bytes.set(match[1], Number(match[2]));
  return bytes;
}

/**
 * Per app, the bytes sent since this process started: HAProxy's table restarts with a reload
 * (carried over, `CarriedCounters`) and may be older than this process (a HAProxy adopted from an
 * earlier nearby, whose bytes that one counted): what the first reading shows is the baseline.
 */
export class EgressCounters {
  readonly #carried = new CarriedCounters();
  #baseline: Map<string, number> | undefined;

  update(table: Map<string, number>): Map<string, number> {
    const totals = this.#carried.update(table);
    this.#baseline ??= new Map(totals);
    const sent = new Map<string, number>();
    for (const [app, total] of totals) sent.set(app, total - (this.#baseline.get(app) ?? 0));
    return sent;
  }
}

export interface EgressMeterOptions {
  api: RuntimeApi;
  store: Store;
  host: string;
  region: string;
  /** The app's org (from the proxy's mirror of `apps/`); undefined: not an app (any more). */
  orgOf(app: string): string | undefined;
  intervalMs?: number;
  log: pino.Logger;
  signal: AbortSignal;
}

export function startEgressMeter(options: EgressMeterOptions) {
  const { api, store, host, region, log } = options;
  const intervalMs = options.intervalMs ?? METER_INTERVAL_MS;
  const counters = new EgressCounters();
  let sent = new Map<string, number>();
  /** app → the counter value its last record ended on (a new month's record starts there). */
  const written = new Map<string, number>();
  let failing = false;

  async function sample(): Promise<void> {
    sent = counters.update(parseEgressTable(await api.command(`show table ${EGRESS_TABLE}`)));
  }

  async function write(): Promise<void> {
    const now = billingNow();
    for (const [app, counter] of sent) {
      const before = written.get(app) ?? 0;
      if (counter === before) continue; // nothing new: no write
      const org = options.orgOf(app);
      if (org === undefined) continue;
      const key = edgeUsageKey(org, monthOf(now), app, host);
      const sample = { machines: [], volume_gb: 0, region, egress_counter: counter };
      await addUsage(store, key, sample, now, intervalMs, before);
      written.set(app, counter);
    }
  }

  const done = (async () => {
    // The baseline at once: what an adopted HAProxy counted before this process is not ours.
    await sample().catch(() => {});
    while (!options.signal.aborted) {
      await sleep(intervalMs, undefined, { signal: options.signal }).catch(() => {});
      if (options.signal.aborted) break;
      try {
        await sample();
        await write();
        if (failing) log.info('egress metered again');
        failing = false;
      } catch (error) {
        // The next pass adds what this one could not: the counters keep growing meanwhile.
        if (!failing) log.warn({ err: errorMessage(error) }, 'could not meter egress; retried next interval');
        failing = true;
      }
    }
  })();
  return {
    /** Reads HAProxy's table now (before a reload: the old worker's counts go with it). */
    sample: () => sample().catch(() => {}),
    done,
  };
}
