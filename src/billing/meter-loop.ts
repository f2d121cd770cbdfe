/**
 * The agent's meter: every interval, this host's machines (their reported state, their size) and
 * volumes, per app, are added to `usage/<org>/<month>/<app>/<host>`. Only this host writes its
 * keys, and it writes totals that run to `metered_until_ms`: after a restart it reads the record
 * back and continues from there, so no second of an interval is counted twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppRecord, MachineRecord, MachineStatus, VolumeRecord } from '../model/mod.ts';
import { keys } from '../model/mod.ts';
import type { Store } from '../store/types.ts';
import { billingNow } from './clock.ts';
import { accrue, emptyUsage, type HostSample, monthBounds, monthOf, type UsageRecord } from './meter.ts';
import { usageKey } from './store.ts';

export const METER_INTERVAL_MS = 10_000;
/** `--meter-interval`'s range: usage is in the store at least every 10 s, and never hammered. */
export const METER_INTERVAL_MIN_MS = 1_000;
export const METER_INTERVAL_MAX_MS = 10_000;

export interface MeterOptions {
  store: Store;
  host: string;
  region: string;
  signal: AbortSignal;
  intervalMs?: number;
  now?: () => number;
  onError?: (error: unknown) => void;
}

/** One pass: reads this host's machines and volumes and rewrites its usage records. */
export async function meterOnce(options: Omit<MeterOptions, 'signal'>): Promise<void> {
  const { store, host } = options;
  const now = (options.now ?? billingNow)();
  const samples = new Map<string, HostSample>();
  const sampleOf = (app: string) => {
    const sample = samples.get(app) ?? {
      machines: [],
      volume_gb: 0,
      region: options.region,
      egress_counter: 0,
    };
    samples.set(app, sample);
    return sample;
  };
  for (const { value: status } of await store.list<MachineStatus>(keys.machineStatuses(host))) {
    const machine = (await store.get<MachineRecord>(keys.machine(status.app, status.id)))?.value;
    // Root filesystems are not sized yet (docs/billing.md): a machine pays for CPU and memory only.
    sampleOf(status.app).machines.push({
      state: status.state,
      guest: machine?.config.guest ?? {},
      rootfs_gb: 0,
    });
  }
  for (const { value: volume } of await store.list<VolumeRecord>(keys.volumes())) {
    if (volume.host === host) sampleOf(volume.app).volume_gb += volume.size_gb;
  }
  const month = monthOf(now);
  for (const [app, sample] of samples) {
    const org = (await store.get<AppRecord>(keys.app(app)))?.value.org_slug ?? 'personal';
    await addUsage(
      store,
      usageKey(org, month, app, host),
      sample,
      now,
      options.intervalMs ?? METER_INTERVAL_MS,
    );
  }
}

/**
 * Adds `sample` up to `now` to the record at `key` (read, accrue, compare-and-set), the one write
 * of a meter. A new record starts one interval back, or at the month's start if later; its counter
 * starts at `counterBefore` (the counter's value the last record of the same writer ended on, so
 * a month's first record does not count what the last month's already did).
 */
export async function addUsage(
  store: Store,
  key: string,
  sample: HostSample,
  now: number,
  intervalMs: number,
  counterBefore = 0,
): Promise<UsageRecord> {
  const entry = await store.get<UsageRecord>(key);
  const start = Math.max(monthBounds(now).start, now - intervalMs);
  const next = accrue(entry?.value ?? { ...emptyUsage(start), egress_counter: counterBefore }, sample, now);
  // Compare-and-set: a second writer of the same key (a mistake) fails instead of adding twice.
  await store.put(key, next, { expectRevision: entry?.revision ?? 0 });
  return next;
}

export async function runMeter(options: MeterOptions): Promise<void> {
  const interval = options.intervalMs ?? METER_INTERVAL_MS;
  while (!options.signal.aborted) {
    await meterOnce(options).catch((error) => options.onError?.(error));
    await sleep(interval, undefined, { signal: options.signal }).catch(() => {});
  }
}
