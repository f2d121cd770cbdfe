/** When a machine with a `schedule` runs next: one period after its last start (Fly's semantics). */
import type { MachineSchedule } from '../model/mod.ts';

export const SCHEDULE_PERIOD_MS: Record<MachineSchedule, number> = {
  hourly: 3_600_000,
  daily: 86_400_000,
  weekly: 7 * 86_400_000,
  monthly: 30 * 86_400_000,
};

/** Node timers overflow past 2^31-1 ms (24.8 days): longer waits are re-armed when they fire. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function nextScheduledRun(schedule: MachineSchedule, lastStartMs: number): number {
  return lastStartMs + SCHEDULE_PERIOD_MS[schedule];
}
