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
  /** Out of the edge proxy's rotation (it keeps running). */
  cordoned: boolean;
  /** nearby additions (clients written for other platforms ignore them). */
  nearby: {
    host: string;
    ipv4?: string;
    exit?: MachineStatus['exit'];
    restarts: number;
    error?: string;
    /** The image pull of the machine's latest prepare, as its agent last reported it. */
    pull?: MachineStatus['pull'];
    /** Set when a transient state has lasted far longer than it should: shown, never hidden. */
    stuck?: { state: MachineState; since: string };
  };
}

/** How long a transient state may last before the machine is reported stuck in it. */
const STUCK_AFTER_MS: Partial<Record<MachineState, number>> = {
  starting: 120_000,
  stopping: 120_000,
  suspending: 120_000,
  destroying: 120_000,
  // These include an image pull, which may be slow for a large image.
  created: 600_000,
  replacing: 600_000,
};

function stuckIn(state: MachineState, since: string, now: number) {
  const limit = STUCK_AFTER_MS[state];
  if (limit === undefined || now - Date.parse(since) < limit) return undefined;
  return { state, since };
}

export function machineState(record: MachineRecord, status: MachineStatus | undefined): MachineState {
  if (record.destroyed_at) return 'destroyed';
  if (!status) return record.desired.state === 'destroyed' ? 'destroying' : 'created';
  if (status.instance_id !== record.instance_id && status.state !== 'destroyed') return 'replacing';
  return status.state;
}

export function machineView(
  record: MachineRecord,
  status: MachineStatus | undefined,
  host: { reachable: boolean } = { reachable: true },
  now = Date.now(),
): MachineView {
  const events = [...record.events, ...(status?.events ?? [])].sort((a, b) => b.timestamp - a.timestamp);
  const updated = status && status.updated_at > record.updated_at ? status.updated_at : record.updated_at;
  const state = machineState(record, status);
  // A created machine that nobody wants started is simply waiting, not stuck.
  const waiting = state === 'created' && record.desired.state !== 'started';
  const stuck = waiting ? undefined : stuckIn(state, updated, now);
  return {
    id: record.id,
    name: record.name,
    state,
    region: record.region,
    instance_id: record.instance_id,
    private_ip: status?.private_ip ?? '',
    config: record.config,
    image_ref: record.image_ref,
    created_at: record.created_at,
    updated_at: updated,
    events,
    host_status: host.reachable ? 'ok' : 'unreachable',
    cordoned: record.cordoned ?? false,
    nearby: {
      host: record.host,
      ipv4: status?.ipv4,
      exit: status?.exit,
      restarts: status?.restarts ?? 0,
      ...(status?.pull && status.instance_id === record.instance_id ? { pull: status.pull } : {}),
      error:
        status?.error ??
        (stuck ? `stuck in '${stuck.state}' since ${stuck.since}` : undefined) ??
        (host.reachable ? undefined : `host ${record.host} has not reported for a while`),
      ...(stuck ? { stuck } : {}),
    },
  };
}
