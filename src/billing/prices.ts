/**
 * The operator's price list and the default one. Defaults are shaped like the public pricing page
 * of the hosted platform nearby mimics (as of 2026), simplified: a per-second rate by CPU kind and
 * count with its included memory, extra memory per GB, disks per GB-month, egress per GB by region
 * group. They are defaults, not a promise: the operator sets their own with `billing prices set`.
 */
import type { GuestConfig } from '../model/machine.ts';
import { pricesInvalid } from './errors.ts';

/** A billing month for per-second rates: 30 days, as the published monthly prices assume. */
export const SECONDS_PER_MONTH = 30 * 24 * 3600;

export interface PriceList {
  currency: 'USD';
  /** USD per month for one vCPU of each kind, with the memory that kind includes per vCPU. */
  cpu: Record<'shared' | 'performance', { usd_month_per_cpu: number; included_mb_per_cpu: number }>;
  /** USD per month for each GB of memory above what the CPUs include. */
  extra_memory_usd_gb_month: number;
  /** USD per GB-month of a volume, and of a machine's root filesystem (started or not). */
  volume_usd_gb_month: number;
  rootfs_usd_gb_month: number;
  /** USD per GB of egress by region group; `regions` maps a region code to its group. */
  egress_usd_gb: Record<string, number>;
  regions: Record<string, string>;
  /** The group of a region not named in `regions`. */
  default_region_group: string;
}

export const DEFAULT_PRICES: PriceList = {
  currency: 'USD',
  cpu: {
    shared: { usd_month_per_cpu: 1.94, included_mb_per_cpu: 256 },
    performance: { usd_month_per_cpu: 31.0, included_mb_per_cpu: 2048 },
  },
  extra_memory_usd_gb_month: 5.0,
  volume_usd_gb_month: 0.15,
  rootfs_usd_gb_month: 0.15,
  egress_usd_gb: { 'north-america-europe': 0.02, 'asia-pacific-south-america': 0.04, 'africa-india': 0.12 },
  regions: {
    iad: 'north-america-europe',
    ord: 'north-america-europe',
    sjc: 'north-america-europe',
    lax: 'north-america-europe',
    yyz: 'north-america-europe',
    ams: 'north-america-europe',
    fra: 'north-america-europe',
    lhr: 'north-america-europe',
    cdg: 'north-america-europe',
    arn: 'north-america-europe',
    syd: 'asia-pacific-south-america',
    nrt: 'asia-pacific-south-america',
    sin: 'asia-pacific-south-america',
    hkg: 'asia-pacific-south-america',
    gru: 'asia-pacific-south-america',
    scl: 'asia-pacific-south-america',
    jnb: 'africa-india',
    bom: 'africa-india',
  },
  default_region_group: 'north-america-europe',
};

/** USD per second for a started machine of this guest size. */
export function machineUsdPerSecond(prices: PriceList, guest: GuestConfig): number {
  const kind = guest.cpu_kind ?? 'shared';
  const cpus = guest.cpus ?? 1;
  const rate = prices.cpu[kind];
  const included = cpus * rate.included_mb_per_cpu;
  const extraGb = Math.max(0, (guest.memory_mb ?? included) - included) / 1024;
  const monthly = cpus * rate.usd_month_per_cpu + extraGb * prices.extra_memory_usd_gb_month;
  return monthly / SECONDS_PER_MONTH;
}

/** USD per GB of egress out of this region. */
export function egressUsdPerGb(prices: PriceList, region: string): number {
  const group = prices.regions[region] ?? prices.default_region_group;
  return prices.egress_usd_gb[group] ?? 0;
}

function price(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw pricesInvalid(`${path} must be a number >= 0`);
  return value;
}

/** Checks a price list read from a file or the store; throws BILLING_PRICES_INVALID naming the field. */
export function parsePrices(value: unknown): PriceList {
  if (typeof value !== 'object' || value === null) throw pricesInvalid('expected a JSON object');
  const input = value as Partial<PriceList>;
  if (input.currency !== 'USD') throw pricesInvalid('currency must be "USD"');
  const cpu = input.cpu;
  if (typeof cpu !== 'object' || cpu === null) throw pricesInvalid('cpu is missing');
  for (const kind of ['shared', 'performance'] as const) {
    price(cpu[kind]?.usd_month_per_cpu, `cpu.${kind}.usd_month_per_cpu`);
    price(cpu[kind]?.included_mb_per_cpu, `cpu.${kind}.included_mb_per_cpu`);
  }
  price(input.extra_memory_usd_gb_month, 'extra_memory_usd_gb_month');
  price(input.volume_usd_gb_month, 'volume_usd_gb_month');
  price(input.rootfs_usd_gb_month, 'rootfs_usd_gb_month');
  if (typeof input.egress_usd_gb !== 'object' || input.egress_usd_gb === null)
    throw pricesInvalid('egress_usd_gb is missing');
  for (const [group, usd] of Object.entries(input.egress_usd_gb)) price(usd, `egress_usd_gb.${group}`);
  if (typeof input.regions !== 'object' || input.regions === null) throw pricesInvalid('regions is missing');
  for (const [region, group] of Object.entries(input.regions)) {
    if (!(group in input.egress_usd_gb))
      throw pricesInvalid(`regions.${region} names an unknown group "${group}"`);
  }
  if (
    typeof input.default_region_group !== 'string' ||
    !(input.default_region_group in input.egress_usd_gb)
  ) {
    throw pricesInvalid('default_region_group must name a group of egress_usd_gb');
  }
  return input as PriceList;
}
