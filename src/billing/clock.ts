/**
 * The clock billing decides by: metering, the month, the enforcer's levels and the start gate.
 * It is the system clock, unless `NEARBY_CLOCK_OFFSET_FILE` names a file holding an offset in ms
 * (a test's clock: it moves billing into the next month without waiting for it). Nothing else of
 * nearby (leases, timeouts, machine events) reads it.
 */
import { readFileSync } from 'node:fs';

export const CLOCK_OFFSET_ENV = 'NEARBY_CLOCK_OFFSET_FILE';

/** The file is read at most this often: a clock read is on every meter and gate call. */
const REREAD_MS = 500;
let cached: { file: string; offsetMs: number; readAt: number } | undefined;

function offsetMs(file: string): number {
  const now = Date.now();
  if (cached?.file === file && now - cached.readAt < REREAD_MS) return cached.offsetMs;
  let offset = 0;
  try {
    const parsed = Number(readFileSync(file, 'utf8').trim() || '0');
    offset = Number.isFinite(parsed) ? parsed : 0;
  } catch {
    // No file yet: no offset. A test writes it when it moves the clock.
  }
  cached = { file, offsetMs: offset, readAt: now };
  return offset;
}

/** Epoch ms for billing: `Date.now()`, plus the test's offset when the variable is set. */
export function billingNow(): number {
  const file = process.env[CLOCK_OFFSET_ENV];
  return file ? Date.now() + offsetMs(file) : Date.now();
}
