/**
 * When a host counts as up: its agent heartbeats every HEARTBEAT_MS into `hosts/<name>`; a host
 * whose last heartbeat is older than HOST_DOWN_MS (three missed beats) is down. Its machines show
 * `host_status: 'unreachable'` and the scheduler places nothing there. One definition for every reader.
 */
import type { HostRecord } from './app.ts';

export const HEARTBEAT_MS = 2_000;
export const HOST_DOWN_MS = 3 * HEARTBEAT_MS;

export function hostIsUp(host: Pick<HostRecord, 'heartbeat_at'>, now = Date.now()): boolean {
  return now - Date.parse(host.heartbeat_at) < HOST_DOWN_MS;
}
