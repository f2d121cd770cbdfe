/**
 * The machine as the API shows it: the control plane's record joined with its agent's status.
 * One function, so the API, the CLI's JSON and `wait` agree on what "state" means.
 */
import type { MachineEvent, MachineRecord, MachineState, MachineStatus } from './machine.ts';

export interface MachineView {
  id: string;
  name: string;
  state: MachineState;
  region: string;
  instance_id: string;
  private_ip: string;
  config: MachineRecord['config'];
  image_ref: MachineRecord['image_ref'];
  created_at: string;
  updated_at: string;
  events: MachineEvent[];
  host_status: 'ok' | 'unreachable';
  /** nearby additions (clients written for other platforms ignore them). */
  nearby: { host: string; ipv4?: string; exit?: MachineStatus['exit']; restarts: number; error?: string };
}

export function machineState(record: MachineRecord, status: MachineStatus | undefined): MachineState {
  if (record.destroyed_at) return 'destroyed';
  if (!status) return record.desired.state === 'destroyed' ? 'destroying' : 'created';
  if (status.instance_id !== record.instance_id && status.state !== 'destroyed') return 'replacing';
  return status.state;
}

export function machineView(record: MachineRecord, status: MachineStatus | undefined): MachineView {
  const events = [...record.events, ...(status?.events ?? [])].sort((a, b) => b.timestamp - a.timestamp);
  const updated = status && status.updated_at > record.updated_at ? status.updated_at : record.updated_at;
  return {
    id: record.id,
    name: record.name,
    state: machineState(record, status),
    region: record.region,
    instance_id: record.instance_id,
    private_ip: status?.private_ip ?? '',
    config: record.config,
    image_ref: record.image_ref,
    created_at: record.created_at,
    updated_at: updated,
    events,
    host_status: 'ok',
    nearby: {
      host: record.host,
      ipv4: status?.ipv4,
      exit: status?.exit,
      restarts: status?.restarts ?? 0,
      error: status?.error,
    },
  };
}
