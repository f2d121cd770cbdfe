/**
 * The world's long-lived processes: started detached (they outlive `nearby world up`), output to a
 * log file in the world dir, found again by pid, and stopped by pid only after checking the pid is
 * still the process the world started.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorldProcess } from './state.ts';

/**
 * Starts `command args` (in `netns` through nsenter, which execs: the pid is the command's);
 * `execs` names what the command execs in turn (`bin/nearby` becomes node running main.ts).
 */
export function startDetached(
  role: string,
  command: string,
  args: string[],
  options: { netns?: string; logFile: string; cwd: string; env?: NodeJS.ProcessEnv; execs?: string[] },
): WorldProcess {
  const log = openSync(options.logFile, 'a');
  // nsenter, not `ip netns exec`: that one remounts /sys, hiding the cgroup tree crun needs.
  const argv = options.netns
    ? ['nsenter', `--net=/run/netns/${options.netns}`, '--', command, ...args]
    : [command, ...args];
  const child = spawn(argv[0], argv.slice(1), {
    detached: true,
    stdio: ['ignore', log, log],
    cwd: options.cwd,
    env: options.env ?? process.env,
  });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`${role}: ${command} could not be started`);
  return {
    pid: child.pid,
    role,
    commands: [command, argv[0], ...(options.execs ?? [])],
    netns: options.netns,
    argv: [command, ...args],
    logFile: options.logFile,
  };
}

/** Starts a process the world started before (gone now: killed, crashed) the same way again. */
export function startAgain(worldProcess: WorldProcess, cwd: string): WorldProcess {
  const [command, ...args] = worldProcess.argv ?? [];
  if (command === undefined || worldProcess.logFile === undefined)
    throw new Error(`${worldProcess.role}: the world did not record how it was started`);
  const execs = worldProcess.commands.slice(2);
  return startDetached(worldProcess.role, command, args, {
    netns: worldProcess.netns,
    logFile: worldProcess.logFile,
    cwd,
    execs,
  });
}

export function isRunning(process: WorldProcess): boolean {
  try {
    const cmdline = readFileSync(`/proc/${process.pid}/cmdline`, 'utf8').split('\0');
    // A zombie has an empty command line: it is gone for our purposes.
    return cmdline.some((word) =>
      process.commands.some((command) => word === command || word.endsWith(`/${command.split('/').pop()}`)),
    );
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; waits until it is gone. */
export async function stopProcess(worldProcess: WorldProcess, graceMs = 15_000): Promise<void> {
  if (!isRunning(worldProcess)) return;
  try {
    process.kill(worldProcess.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (isRunning(worldProcess) && Date.now() < deadline) await delay(100);
  if (isRunning(worldProcess)) {
    try {
      process.kill(worldProcess.pid, 'SIGKILL');
    } catch {}
    while (isRunning(worldProcess)) await delay(50);
  }
}
