/**
 * Thaws a sandbox's cgroup by writing the freezer file itself: the same state change `crun resume`
 * makes, without spawning a process (~8 ms here), which is most of a suspended machine's wake. And
 * keeps the cgroup v1 freezer armed, so that a thaw is a flag change and not a kernel code patch.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupLayout, controllerDir } from './cgroups.ts';

/**
 * An empty cgroup beside the machines' (never a machine id: those are hex), kept frozen. The v1
 * freezer turns a static key on when the host's first cgroup starts freezing and off when its last
 * one thaws; each flip patches kernel code on every CPU: 2.8 ms median, up to 10 ms, measured here
 * (kernel 6.18) against 0.02 ms for a thaw while another cgroup stays frozen. With this one frozen
 * the key stays on, and thawing the last suspended machine costs no flip. It holds no process and
 * is left in place on exit: other nearby servers on the host may count on it, and it costs nothing.
 */
export const FREEZER_ANCHOR = 'freezer-anchor';
let armed = false;

/** Makes sure the freezer anchor exists and is frozen (v1 and hybrid layouts; v2 has no such key). */
export function keepFreezerArmed(): void {
  if (armed || cgroupLayout() === 'v2') return;
  try {
    const dir = controllerDir(FREEZER_ANCHOR, 'freezer');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'freezer.state'), 'FROZEN');
    armed = true;
  } catch {
    // Only an optimisation: a thaw without it works, it is just slower.
  }
}

/**
 * Returns true once the cgroup is thawed, false when this host's layout leaves it to the runtime.
 * Synchronous on purpose: a cgroup file is kernel state, written in microseconds, while each of
 * the seven steps of an async write and read-back waits for a thread of libuv's pool and then for
 * a turn of a busy event loop.
 */
export function thawCgroup(id: string): boolean {
  keepFreezerArmed(); // after a restart of nearby, before the first thaw
  try {
    if (cgroupLayout() === 'v2') {
      const dir = controllerDir(id, 'unified');
      writeFileSync(join(dir, 'cgroup.freeze'), '0');
      return /^frozen 0$/m.test(readFileSync(join(dir, 'cgroup.events'), 'utf8'));
    }
    const state = join(controllerDir(id, 'freezer'), 'freezer.state');
    writeFileSync(state, 'THAWED');
    return readFileSync(state, 'utf8').trim() === 'THAWED';
  } catch {
    return false;
  }
}
