/**
 * Demand for autoscaling by location (docs/autoscale.md): every `intervalMs` this proxy reads
 * HAProxy's per-server counters (`show stat`, as autostop does) and, per app that had traffic,
 * publishes `demand/<app>/<host>`: the requests that went through it since the last look and those
 * in flight, by the region of the machine that served them, with the RTT to that region (0 for
 * this host's own machines) and the p50/p95 latency of the responses (route-latency.ts, read
 * from HAProxy's table in the same pass). Idle apps cost nothing: no record is written for them,
 * and the autoscaler ignores records that stopped coming.
 */
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { type DemandRecord, type DemandServed, keys, type MachineRecord } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import { type MachineLoad, type MachineOfServer, parseShowStat } from './autostop-stats.ts';
import type { Location } from './placement.ts';
import {
  addHistogram,
  type LatencyHistogram,
  latencyQuantile,
  parseRouteLatencyTable,
  ROUTE_LATENCY_TABLE,
  RouteLatencyCounts,
} from './route-latency.ts';
import type { RuntimeApi } from './runtime-api.ts';

export const demandDefaults = { intervalMs: 2_000 };

export interface DemandOptions {
  api: Pick<RuntimeApi, 'command'>;
  store: Store;
  host: string;
  region: string;
  intervalMs: number;
  /** Every machine the proxy routes to, by id. */
  machines(): ReadonlyMap<string, MachineRecord>;
  /** Whether a machine is on this host (its counters include requests other proxies sent here). */
  isLocal(record: MachineRecord): boolean;
  /** Where a machine's host is reached from here (its RTT); undefined on one host. */
  locate?(record: MachineRecord): Location | undefined;
  machineOf: MachineOfServer;
  log: pino.Logger;
  signal: AbortSignal;
}

/**
 * Per app, what this sample adds to the last one: requests (the counters' growth; a machine seen
 * for the first time adds nothing, its counter may hold a slot's older sessions), concurrency,
 * and the p50 and p95 latency of the responses to requests that entered here (`latency`, by
 * machine: route-latency.ts). `totals` is updated in place. Apps with neither requests nor
 * concurrency are left out.
 */
export function demandOfSample(input: {
  loads: ReadonlyMap<string, MachineLoad>;
  totals: Map<string, number>;
  records: ReadonlyMap<string, MachineRecord>;
  region: string;
  isLocal(record: MachineRecord): boolean;
  rttMs(record: MachineRecord): number;
  latency?: ReadonlyMap<string, LatencyHistogram>;
}): Map<string, Record<string, DemandServed>> {
  const byApp = new Map<string, Record<string, DemandServed>>();
  const histograms = new Map<DemandServed, LatencyHistogram>();
  for (const [machine, load] of input.loads) {
    const record = input.records.get(machine);
    if (record === undefined) continue;
    const before = input.totals.get(machine);
    input.totals.set(machine, load.total);
    // A reload restarts the counters: what it counted since is all new.
    const requests = before === undefined ? 0 : load.total >= before ? load.total - before : load.total;
    // Latency alone (a response to a request counted in the last pass) makes no record: the
    // records stay as many as before.
    if (requests === 0 && load.sessions === 0) continue;
    const latency = input.latency?.get(machine);
    const served = input.isLocal(record) ? input.region : record.region;
    const app = byApp.get(record.app) ?? {};
    const entry = app[served] ?? { requests: 0, concurrency: 0, rtt_ms: 0 };
    entry.requests += requests;
    entry.concurrency += load.sessions;
    entry.rtt_ms = Math.max(entry.rtt_ms, input.isLocal(record) ? 0 : Math.round(input.rttMs(record)));
    if (latency !== undefined) {
      const histogram = histograms.get(entry) ?? new Map();
      addHistogram(histogram, latency);
      histograms.set(entry, histogram);
    }
    app[served] = entry;
    byApp.set(record.app, app);
  }
  for (const [entry, histogram] of histograms) {
    entry.p50_ms = latencyQuantile(histogram, 0.5);
    entry.p95_ms = latencyQuantile(histogram, 0.95);
  }
  for (const machine of input.totals.keys()) if (!input.loads.has(machine)) input.totals.delete(machine);
  return byApp;
}

/** Slot histograms (route-latency.ts) by the machine each slot stands for; free slots left out. */
export function latencyByMachine(
  bySlot: ReadonlyMap<string, LatencyHistogram>,
  machineOf: MachineOfServer,
): Map<string, LatencyHistogram> {
  const byMachine = new Map<string, LatencyHistogram>();
  for (const [slot, histogram] of bySlot) {
    // Slots are `<backend>.<index>` (slots.ts); backend names have no dot.
    const machine = machineOf(slot.slice(0, slot.lastIndexOf('.')), slot);
    if (machine === undefined) continue;
    const into = byMachine.get(machine) ?? new Map();
    addHistogram(into, histogram);
    byMachine.set(machine, into);
  }
  return byMachine;
}

/** Starts the loop; it ends with `signal`. */
export function startDemand(options: DemandOptions): void {
  const { log, signal } = options;
  const totals = new Map<string, number>();
  const latencyCounts = new RouteLatencyCounts();
  let last = Date.now();
  let failing = false;
  let timer: NodeJS.Timeout | undefined;

  async function pass(): Promise<void> {
    const [stat, table] = await Promise.all([
      options.api.command('show stat'),
      options.api.command(`show table ${ROUTE_LATENCY_TABLE}`),
    ]);
    const loads = parseShowStat(stat, options.machineOf);
    const latency = latencyByMachine(latencyCounts.update(parseRouteLatencyTable(table)), options.machineOf);
    const now = Date.now();
    const byApp = demandOfSample({
      loads,
      totals,
      records: options.machines(),
      region: options.region,
      isLocal: options.isLocal,
      rttMs: (record) => options.locate?.(record)?.rttMs ?? 0,
      latency,
    });
    const interval = now - last;
    last = now;
    const at = new Date(now).toISOString();
    await Promise.all(
      [...byApp].map(([app, served]) => {
        const record: DemandRecord = {
          app,
          host: options.host,
          region: options.region,
          at,
          interval_ms: interval,
          served,
        };
        return options.store.put(keys.demand(app, options.host), record);
      }),
    );
  }

  const schedule = () => {
    if (signal.aborted) return;
    timer = setTimeout(async () => {
      try {
        await pass();
        if (failing) log.info('demand published again');
        failing = false;
      } catch (error) {
        // Demand is a rate: a pass that could not publish is skipped, the next one counts its own.
        if (!failing) log.warn({ err: errorMessage(error) }, 'could not publish demand');
        failing = true;
      }
      schedule();
    }, options.intervalMs);
  };
  schedule();
  signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
}
