import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accrue, costUsd, emptyUsage, forecastUsd, type HostSample, monthOf } from './meter.ts';
import { DEFAULT_PRICES, machineUsdPerSecond } from './prices.ts';

const start = Date.UTC(2026, 11, 6, 0, 0, 0);
const started = (state = 'started') => ({
  state,
  guest: { cpu_kind: 'shared' as const, cpus: 1, memory_mb: 256 },
  rootfs_gb: 1,
});
const sample = (machines: HostSample['machines'], egress = 0): HostSample => ({
  machines,
  volume_gb: 10,
  region: 'syd',
  egress_counter: egress,
});

describe('meter', () => {
  it('counts started machines by size and disks for every machine', () => {
    const after = accrue(
      emptyUsage(start),
      sample([started(), started('stopped'), started('suspended')]),
      start + 10_000,
    );
    assert.deepEqual(after.machine_seconds, { 'shared-1x-256mb': 10 });
    assert.equal(after.rootfs_gb_seconds, 30);
    assert.equal(after.volume_gb_seconds, 100);
  });

  it('a restart reading its record back continues where it stopped: no interval counted twice', () => {
    const first = accrue(emptyUsage(start), sample([started()]), start + 10_000);
    const stored = JSON.parse(JSON.stringify(first));
    const again = accrue(stored, sample([started()]), start + 10_000);
    assert.deepEqual(again.machine_seconds, { 'shared-1x-256mb': 10 });
    const later = accrue(stored, sample([started()]), start + 25_000);
    assert.deepEqual(later.machine_seconds, { 'shared-1x-256mb': 25 });
  });

  it('egress counts deltas of the edge counter, and all of it after the proxy restarted', () => {
    const a = accrue(emptyUsage(start), sample([], 1000), start + 1000);
    const b = accrue(a, sample([], 1500), start + 2000);
    const c = accrue(b, sample([], 200), start + 3000);
    assert.deepEqual(c.egress_bytes, { syd: 1700 });
  });

  it('a record stops at its month end', () => {
    const end = Date.UTC(2027, 0, 1);
    const after = accrue(emptyUsage(end - 5000), sample([started()]), end + 60_000);
    assert.deepEqual(after.machine_seconds, { 'shared-1x-256mb': 5 });
    assert.equal(monthOf(end - 1), '2026-12');
    assert.equal(monthOf(end), '2027-01');
  });

  it('prices a month of a shared-cpu-1x at its monthly rate and forecasts linearly', () => {
    const perSecond = machineUsdPerSecond(DEFAULT_PRICES, { cpu_kind: 'shared', cpus: 1, memory_mb: 256 });
    assert.ok(Math.abs(perSecond * 30 * 86400 - 1.94) < 1e-9);
    const withExtra = machineUsdPerSecond(DEFAULT_PRICES, { cpu_kind: 'shared', cpus: 1, memory_mb: 1280 });
    assert.ok(Math.abs(withExtra * 30 * 86400 - 6.94) < 1e-9);
    const record = { ...emptyUsage(start), egress_bytes: { syd: 1e9, iad: 1e9 } };
    assert.ok(Math.abs(costUsd(record, DEFAULT_PRICES) - 0.06) < 1e-9);
    const mid = Date.UTC(2026, 11, 16, 12);
    assert.ok(Math.abs(forecastUsd(1, mid) - 2) < 1e-9);
  });
});
