/**
 * The world's state file (`<dir>/world.json`): the plan, and everything `up` made as it made it
 * (namespaces, the bridge, processes by pid), so `status`, `run` and `down` find the world, and a
 * half-built world is still removed whole.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { worldError } from './errors.ts';
import type { WorldPlan } from './plan.ts';

export const defaultWorldDir = '/var/lib/nearby/world';

export interface WorldProcess {
  pid: number;
  /** What it is, for status and logs: `netdelay fra-1`, `nats iad`, `api`, `node fra-1` (or `agent fra-1` and `proxy fra-1`), `dns`. */
  role: string;
  /** Words its command line holds (before and after exec), checked before it is killed (a pid can be reused). */
  commands: string[];
  netns?: string;
  /** How it was started (what `startDetached` ran, and its log): a fault test starts it again so. */
  argv?: string[];
  logFile?: string;
}

export interface WorldState {
  dir: string;
  plan: WorldPlan;
  /** Namespaces made so far (removed by `down`). */
  namespaces: string[];
  bridge?: string;
  processes: WorldProcess[];
  /** Host data dirs given to `nearby node` (cleaned with `nearby host clean`). */
  hostDataDirs: { dataDir: string; netns: string }[];
  /** With `--host-disk-mb`: each host's data dir's own filesystem (host-disks.ts). */
  hostDisks?: { image: string; mountpoint: string }[];
  apiUrl?: string;
  token?: string;
  registry?: string;
  dnsAddress?: string;
  ready: boolean;
}

export const stateFile = (dir: string) => join(dir, 'world.json');

export function saveState(state: WorldState): void {
  const file = stateFile(state.dir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function hasState(dir: string): boolean {
  return existsSync(stateFile(dir));
}

/** @throws NearbyError WORLD_NOT_FOUND when no world lives in `dir` */
export function loadState(dir: string): WorldState {
  if (!hasState(dir))
    throw worldError(
      'WORLD_NOT_FOUND',
      `no world in ${dir}`,
      'start one with `nearby world up --regions iad,fra`',
    );
  return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as WorldState;
}
