/**
 * Faults in a running world, for `npm run chaos` (docs/chaos.md): kill -9 one of its processes or
 * a whole host (everything in the host's namespace and its machines'), start them again as `up`
 * started them (the state file keeps each one's command and log), cut the link between two
 * regions both ways and mend it. Each change of a process is written to the state file, so
 * `world down` still finds everything.
 */
import { readdirSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { isAlive } from '../process-alive.ts';
import { runCommand } from '../run-command.ts';
import { worldError } from './errors.ts';
import { sh } from './links.ts';
import { isRunning, startAgain } from './processes.ts';
import { loadState, saveState, type WorldProcess, type WorldState } from './state.ts';

function byRole(state: WorldState, role: string): WorldProcess {
  const found = state.processes.find((process) => process.role === role);
  if (found === undefined)
    throw worldError(
      'WORLD_INVALID',
      `the world has no process '${role}'`,
      `its processes: ${state.processes.map((process) => process.role).join(', ')}`,
    );
  return found;
}

/** SIGKILL, as a crash: nothing is told, nothing cleans up. */
export async function killProcess(dir: string, role: string): Promise<void> {
  const process = byRole(loadState(dir), role);
  await killPids([process.pid]);
}

/** Starts the processes of these roles again (those not running), in the order `up` started them. */
export function restartProcesses(dir: string, roles: string[]): void {
  const state = loadState(dir);
  for (const [index, process] of state.processes.entries()) {
    if (!roles.includes(process.role) || isRunning(process)) continue;
    state.processes[index] = startAgain(process, state.dir);
    saveState(state);
  }
}

/** The roles running in a host's namespace: its NATS node, the API, its nearby parts, its delays. */
export function hostRoles(dir: string, hostName: string): string[] {
  const state = loadState(dir);
  const host = state.plan.hosts.find((planned) => planned.hostName === hostName);
  if (host === undefined)
    throw worldError(
      'WORLD_INVALID',
      `the world has no host '${hostName}'`,
      `its hosts: ${state.plan.hosts.map((planned) => planned.hostName).join(', ')}`,
    );
  return state.processes.filter((process) => process.netns === host.netns).map((process) => process.role);
}

/** A whole host dies: SIGKILL to everything in its namespace and its machines' namespaces. */
export async function crashHost(dir: string, hostName: string): Promise<void> {
  const state = loadState(dir);
  const host = state.plan.hosts.find((planned) => planned.hostName === hostName);
  if (host === undefined) throw worldError('WORLD_INVALID', `the world has no host '${hostName}'`);
  // The machines' namespaces are named after the host's machine bridge (src/net/netns.ts).
  const machines = readdirSync('/run/netns').filter((ns) => ns.startsWith(`${host.machineBridge}-`));
  for (let round = 0; round < 50; round++) {
    const pids: number[] = [];
    for (const ns of [host.netns, ...machines]) {
      const listed = await runCommand('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
      pids.push(...listed.stdout.split(/\s+/).filter(Boolean).map(Number));
    }
    if (pids.length === 0) return;
    await killPids(pids);
  }
  throw worldError('WORLD_INVALID', `processes of host ${hostName} outlived SIGKILL`);
}

async function killPids(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (let round = 0; round < 100 && pids.some(isAlive); round++) await delay(20);
}

/** The iptables rules that cut region `a` off from region `b`, in a host of `a`: in and out. */
function cutRules(state: WorldState, a: string, b: string): { netns: string; rule: string[] }[] {
  const prefix = state.plan.network.replace(/\.0\.0\/16$/, '');
  const network = `${prefix}.${state.plan.cities.indexOf(b) + 1}.0/24`;
  const tag = ['-m', 'comment', '--comment', `nearby-world-cut-${b}`];
  return state.plan.hosts
    .filter((host) => host.region === a)
    .flatMap((host) => [
      { netns: host.netns, rule: ['INPUT', '-s', network, ...tag, '-j', 'DROP'] },
      { netns: host.netns, rule: ['OUTPUT', '-d', network, ...tag, '-j', 'DROP'] },
    ]);
}

/** Cuts every host of region `a` off from every address of city `b`, and the other way. */
export async function cutLink(dir: string, a: string, b: string): Promise<void> {
  const state = loadState(dir);
  for (const { netns, rule } of [...cutRules(state, a, b), ...cutRules(state, b, a)])
    await sh('ip', ['netns', 'exec', netns, 'iptables', '-w', '-I', ...rule]);
}

/** Mends what `cutLink` cut (a rule already gone is fine). */
export async function mendLink(dir: string, a: string, b: string): Promise<void> {
  const state = loadState(dir);
  for (const { netns, rule } of [...cutRules(state, a, b), ...cutRules(state, b, a)])
    await runCommand('ip', ['netns', 'exec', netns, 'iptables', '-w', '-D', ...rule], { timeoutMs: 30_000 });
}
