/** A machine's status as its agent reports it, for tests that write statuses by hand. */
import type { MachineRecord, MachineStatus } from '../../src/model/mod.ts';

export function reportedStatus(
  record: MachineRecord,
  state: MachineStatus['state'],
  ipv4: string,
  updatedAt = new Date().toISOString(),
): MachineStatus {
  return {
    id: record.id,
    app: record.app,
    instance_id: record.instance_id,
    state,
    seq: 1,
    ipv4,
    restarts: 0,
    events: [],
    updated_at: updatedAt,
  };
}
