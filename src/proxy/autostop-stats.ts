/**
 * HAProxy's per-server counters (`show stat` CSV) summed per machine over the app's backends, and
 * the idle clock autostop keeps from them: a machine is busy while it has sessions or its total
 * count moved since the last look.
 */

export interface MachineLoad {
  /** Current sessions, over every backend of its app. */
  sessions: number;
  /** Sessions since HAProxy started (moves with every request). */
  total: number;
}

const isAppBackend = (name: string) => name.startsWith('app_');

/** Which machine a backend's server (slot) stands for; undefined for a free slot. */
export type MachineOfServer = (backend: string, server: string) => string | undefined;

/** Parses `show stat` into per-machine load (servers are slots: `machineOf` names their machine). */
export function parseShowStat(
  csv: string,
  machineOf: MachineOfServer = (_backend, server) => server,
): Map<string, MachineLoad> {
  const lines = csv.split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const column = (name: string) => header.indexOf(name);
  const [px, sv, scur, stot] = [column('pxname'), column('svname'), column('scur'), column('stot')];
  const loads = new Map<string, MachineLoad>();
  if (px < 0 || sv < 0 || scur < 0 || stot < 0) return loads;
  for (const line of lines.slice(1)) {
    const fields = line.split(',');
    if (fields.length < header.length - 1) continue;
    const backend = fields[px];
    if (!isAppBackend(backend) || fields[sv] === 'BACKEND' || fields[sv] === 'FRONTEND') continue;
    const server = machineOf(backend, fields[sv]);
    if (server === undefined) continue;
    const load = loads.get(server) ?? { sessions: 0, total: 0 };
    load.sessions += Number(fields[scur]) || 0;
    load.total += Number(fields[stot]) || 0;
    loads.set(server, load);
  }
  return loads;
}

/** When each machine last did anything, as seen from successive samples. */
export class IdleClock {
  readonly #seen = new Map<string, { total: number; lastActive: number }>();

  /** Records a sample; machines absent from it are forgotten (out of rotation). */
  sample(loads: Map<string, MachineLoad>, now: number): void {
    for (const [machine, load] of loads) {
      const previous = this.#seen.get(machine);
      const active = previous === undefined || load.sessions > 0 || load.total !== previous.total;
      this.#seen.set(machine, { total: load.total, lastActive: active ? now : previous.lastActive });
    }
    for (const machine of this.#seen.keys()) if (!loads.has(machine)) this.#seen.delete(machine);
  }

  /** A request reached the machine some other way (the activator forwarded it). */
  touch(machine: string, now: number): void {
    const seen = this.#seen.get(machine);
    if (seen !== undefined) seen.lastActive = now;
  }

  /** How long the machine has been idle, or undefined if it was not in the last sample. */
  idleMs(machine: string, now: number): number | undefined {
    const seen = this.#seen.get(machine);
    return seen === undefined ? undefined : now - seen.lastActive;
  }
}
