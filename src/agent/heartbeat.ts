/** Publishes this host (`hosts/<name>`) and refreshes its heartbeat so the scheduler can use it. */
import { cpus, totalmem } from 'node:os';
import { type HostRecord, keys } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { type OutageLog, StoreOutage } from '../store/outage.ts';

export const HEARTBEAT_MS = 10_000;

export async function runHeartbeat(
  store: Store,
  host: Pick<HostRecord, 'name' | 'region' | 'runtime' | 'runtimes' | 'console_socket'>,
  signal: AbortSignal,
  log?: OutageLog,
): Promise<void> {
  const startedAt = new Date().toISOString();
  const beat = () => {
    const record: HostRecord = {
      ...host,
      memory_mb: Math.floor(totalmem() / 1024 / 1024),
      cpus: cpus().length,
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
