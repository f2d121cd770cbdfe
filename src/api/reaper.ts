/**
 * The control plane's finishing loop: marks records destroyed once their agent reports it, and
 * destroys machines with `auto_destroy` once they have stopped. Level-triggered: a restart redoes
 * whatever was left undone.
 */
import type { Logger } from 'pino';
import { keys, type MachineRecord, type MachineStatus, pushEvent } from '../model/mod.ts';
import { follow } from '../store/follow.ts';
import { type Store, update } from '../store/mod.ts';
import { StoreOutage, untilStoreAnswers } from '../store/outage.ts';

export async function runReaper(store: Store, log: Logger, signal: AbortSignal): Promise<void> {
  const outage = new StoreOutage(log, 'api reaper');
  const statuses = follow<MachineStatus>(store, keys.machineStatuses(), {
    signal,
    log,
    what: 'api reaper watch of machine statuses',
  });
  for await (const event of statuses) {
    if (event.type !== 'put') continue;
    const status = event.value;
    if (status.state !== 'destroyed' && status.state !== 'stopped') continue;
    // Retried while the store is away: this status change will not be seen again.
    const finish = () =>
      update<MachineRecord>(store, keys.machine(status.app, status.id), (record) => {
        if (!record || record.destroyed_at) return undefined;
        const now = new Date().toISOString();
        if (status.state === 'destroyed' && record.desired.state === 'destroyed') {
          return { ...record, destroyed_at: now, updated_at: now };
        }
        if (
          status.state === 'stopped' &&
          record.config.auto_destroy &&
          record.desired.state === 'started' &&
          status.instance_id === record.instance_id &&
          status.seq === record.desired.seq
        ) {
          log.info(
            { machine: record.id, app: record.app },
            'machine exited with auto_destroy: destroying it',
          );
          return {
            ...record,
            desired: { state: 'destroyed', seq: record.desired.seq + 1, reason: 'api' },
            events: pushEvent(record.events, {
              type: 'destroy',
              status: 'destroying',
              source: 'nearby',
              timestamp: Date.now(),
            }),
            updated_at: now,
          };
        }
        return undefined;
      });
    await untilStoreAnswers(finish, outage, signal).catch((error) =>
      log.warn({ err: error, machine: status.id }, 'reaper could not update machine'),
    );
  }
}
