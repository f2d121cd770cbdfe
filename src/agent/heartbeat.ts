/**
 * Publishes this host (`hosts/<name>`) and refreshes its heartbeat every HEARTBEAT_MS: a host
 * whose heartbeat is older than HOST_DOWN_MS is down (model/host-liveness.ts).
 */
import { cpus, totalmem } from 'node:os';
import { HEARTBEAT_MS, type HostRecord, keys } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { type OutageLog, StoreOutage } from '../store/outage.ts';
import { nearbyVersion } from '../version.ts';

/** What the agent says of its host; memory and CPUs default to the whole machine. */
export type HostDescription = Omit<
  HostRecord,
  'memory_mb' | 'cpus' | 'heartbeat_at' | 'started_at' | 'version'
> &
  Partial<Pick<HostRecord, 'memory_mb' | 'cpus'>>;

export async function runHeartbeat(
  store: Store,
  host: HostDescription,
  signal: AbortSignal,
  log?: OutageLog,
): Promise<void> {
  const startedAt = new Date().toISOString();
  const beat = () => {
    const record: HostRecord = {
      memory_mb: Math.floor(totalmem() / 1024 / 1024),
      cpus: cpus().length,
      ...host,
      version: nearbyVersion,
      heartbeat_at: new Date().toISOString(),
      started_at: startedAt,
    };
    return store.put(keys.host(host.name), record);
  };
  await beat();
  // A missed beat is not retried early: the next one says the same, and a host whose store is
  // away for long is down for the others anyway.
  const outage = log && new StoreOutage(log, 'agent heartbeat');
  const timer = setInterval(
    () =>
      beat().then(
        () => outage?.back(),
        (error) => outage?.lost(error),
      ),
    HEARTBEAT_MS,
  );
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
