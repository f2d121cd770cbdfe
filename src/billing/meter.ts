/**
 * Meter math: what one host's usage record for one app and month becomes after an interval.
 * Pure (no clock, no store), so restarts and month edges are tested without I/O. A record holds
 * totals, never increments: the agent owning `usage/<org>/<month>/<app>/<host>` writes the whole
 * record back, so a lost write is re-earned by the next one and nothing is added twice.
 */
import type { GuestConfig } from '../model/machine.ts';
import { egressUsdPerGb, machineUsdPerSecond, type PriceList, SECONDS_PER_MONTH } from './prices.ts';

export interface UsageRecord {
  /** Seconds started, by size key (`shared-1x-256mb`). */
  machine_seconds: Record<string, number>;
  rootfs_gb_seconds: number;
  volume_gb_seconds: number;
  /** Bytes sent by the edge for the app, by region of the edge. */
  egress_bytes: Record<string, number>;
  /** The proxy's cumulative bytes-out counter at the last write (it restarts at 0 with the proxy). */
  egress_counter: number;
  /** Epoch ms the totals run to: the next interval starts here, so intervals never overlap. */
  metered_until_ms: number;
}

export interface MachineSample {
  state: string;
  guest: GuestConfig;
  rootfs_gb: number;
}

export interface HostSample {
  machines: MachineSample[];
  volume_gb: number;
  region: string;
  /** The edge's cumulative bytes out for the app on this host. */
  egress_counter: number;
}

export function emptyUsage(startMs: number): UsageRecord {
  return {
    machine_seconds: {},
    rootfs_gb_seconds: 0,
    volume_gb_seconds: 0,
    egress_bytes: {},
    egress_counter: 0,
    metered_until_ms: startMs,
  };
}

/** The month a moment belongs to, `YYYY-MM` in UTC: the key of records and budgets. */
export function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** The first and the last-plus-one epoch ms of the month of `ms` (UTC). */
export function monthBounds(ms: number): { start: number; end: number } {
  const date = new Date(ms);
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1);
  const end = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1);
  return { start, end };
}

export function sizeKey(guest: GuestConfig): string {
  return `${guest.cpu_kind ?? 'shared'}-${guest.cpus ?? 1}x-${guest.memory_mb ?? 256}mb`;
}

/** Only started machines pay for their CPU and memory; every machine pays for its root fs. */
const STARTED = new Set(['started', 'starting', 'replacing']);

/**
 * The record after metering `sample` up to `nowMs`. The interval runs from the record's
 * `metered_until_ms`, clamped to the record's month (a record never holds another month's time).
 */
export function accrue(record: UsageRecord, sample: HostSample, nowMs: number): UsageRecord {
  const { end } = monthBounds(record.metered_until_ms);
  const until = Math.min(nowMs, end);
  const seconds = Math.max(0, until - record.metered_until_ms) / 1000;
  const next: UsageRecord = {
    machine_seconds: { ...record.machine_seconds },
    rootfs_gb_seconds: record.rootfs_gb_seconds,
    volume_gb_seconds: record.volume_gb_seconds + sample.volume_gb * seconds,
    egress_bytes: { ...record.egress_bytes },
    egress_counter: sample.egress_counter,
    metered_until_ms: Math.max(record.metered_until_ms, until),
  };
  for (const machine of sample.machines) {
    if (machine.state === 'destroyed') continue;
    next.rootfs_gb_seconds += machine.rootfs_gb * seconds;
    if (STARTED.has(machine.state)) {
      const key = sizeKey(machine.guest);
      next.machine_seconds[key] = (next.machine_seconds[key] ?? 0) + seconds;
    }
  }
  // A counter below the last one means the proxy restarted: everything it counted since is new.
  const sent =
    sample.egress_counter >= record.egress_counter
      ? sample.egress_counter - record.egress_counter
      : sample.egress_counter;
  if (sent > 0) next.egress_bytes[sample.region] = (next.egress_bytes[sample.region] ?? 0) + sent;
  return next;
}

function guestOf(key: string): GuestConfig {
  const match = /^(shared|performance)-(\d+)x-(\d+)mb$/.exec(key);
  if (!match) return {};
  return {
    cpu_kind: match[1] as 'shared' | 'performance',
    cpus: Number(match[2]),
    memory_mb: Number(match[3]),
  };
}

/** What a record costs in USD under a price list. */
export function costUsd(record: UsageRecord, prices: PriceList): number {
  let usd = 0;
  for (const [key, seconds] of Object.entries(record.machine_seconds))
    usd += seconds * machineUsdPerSecond(prices, guestOf(key));
  usd += (record.rootfs_gb_seconds / SECONDS_PER_MONTH) * prices.rootfs_usd_gb_month;
  usd += (record.volume_gb_seconds / SECONDS_PER_MONTH) * prices.volume_usd_gb_month;
  for (const [region, bytes] of Object.entries(record.egress_bytes))
    usd += (bytes / 1e9) * egressUsdPerGb(prices, region);
  return usd;
}

/** The month's forecast: spend so far divided by the elapsed fraction of the month (linear). */
export function forecastUsd(spentUsd: number, nowMs: number): number {
  const { start, end } = monthBounds(nowMs);
  const elapsed = (nowMs - start) / (end - start);
  // In the month's first minutes a tiny elapsed fraction blows any spend up; wait for an hour.
  return nowMs - start < 3600_000 ? spentUsd : spentUsd / elapsed;
}
