/**
 * Talking to native/shim.c: the files it keeps in a sandbox's directory (pid, exit status, log),
 * launching it detached, and reading what it recorded. The shim outlives nearby; these files do too.
 */
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../run-command.ts';
import type { ExitInfo } from './types.ts';

export interface ShimFiles {
  shimPid: string;
  containerPid: string;
  exit: string;
  log: string;
}

export function shimFiles(dir: string): ShimFiles {
  return {
    shimPid: join(dir, 'shim.pid'),
    containerPid: join(dir, 'container.pid'),
    exit: join(dir, 'exit.json'),
    log: join(dir, 'console.log'),
  };
}

export interface ShimLaunch {
  shimPath: string;
  files: ShimFiles;
  oomFile: string;
  /** The runtime's command line up to `run` (e.g. `crun --root R`). */
  runtime: string[];
  bundle: string;
  id: string;
  /** For a process with a terminal: where the runtime sends the terminal to the shim. */
  consoleSocket?: string;
  /** `create`: the container made and its process held before its exec until `<runtime> start`. */
  create?: boolean;
}

/** Starts the shim; resolves once the runtime has started (or created) the sandbox's process:
 *  true, or failed to: false (its message is then in the log). */
export async function launchShim(launch: ShimLaunch): Promise<boolean> {
  const { files } = launch;
  const args = [
    ...['--pid-file', files.shimPid, '--exit-file', files.exit, '--log', files.log],
    ...['--container-pid-file', files.containerPid, '--oom-file', launch.oomFile],
    ...(launch.consoleSocket ? ['--console-socket', launch.consoleSocket] : []),
    '--',
    ...[
      ...launch.runtime,
      ...(launch.create ? ['create'] : ['run', '--detach']),
      ...(launch.consoleSocket ? ['--console-socket', launch.consoleSocket] : []),
      '--pid-file',
      files.containerPid,
      '--bundle',
      launch.bundle,
      launch.id,
    ],
  ];
  // The timeout ends only the launcher (a runtime stuck in start); the shim itself lives on, in a
  // process group of its own, holding neither the launcher's stdout nor (once started) its stderr.
  const { code, stderr } = await runCommand(launch.shimPath, args, {
    detached: true,
    discardStdout: true,
    timeoutMs: 60_000,
  });
  if (code === 2) return false;
  if (code !== 0) throw new Error(`the shim exited with ${code}: ${stderr.trim()}`);
  return true;
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The shim's pid if it still runs (the pid file alone could name a recycled pid). */
export function liveShimPid(files: ShimFiles): number | undefined {
  const pid = Number(readFileSafe(files.shimPid).trim());
  if (!(pid > 0)) return undefined;
  return readFileSafe(`/proc/${pid}/cmdline`).split('\0')[0]?.endsWith('shim') ? pid : undefined;
}

export async function readContainerPid(files: ShimFiles): Promise<number | undefined> {
  const pid = Number((await readFile(files.containerPid, 'utf8').catch(() => '')).trim());
  return pid > 0 ? pid : undefined;
}

/** The exit the shim recorded, or undefined while the process runs (or never ran). */
export async function readExit(files: ShimFiles): Promise<ExitInfo | undefined> {
  const text = await readFile(files.exit, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const exit = JSON.parse(text) as { exit_code: number; signal: string | null; oom_killed?: boolean };
  const info: ExitInfo = {
    exitCode: exit.exit_code,
    oomKilled: exit.oom_killed === true,
    at: (await stat(files.exit)).mtime,
  };
  if (exit.signal) info.signal = exit.signal;
  return info;
}

/** The last lines of the log without their CRI prefix, for error messages. */
export async function logTail(files: ShimFiles, lines = 3): Promise<string> {
  const text = await readFile(files.log, 'utf8').catch(() => '');
  const last = text.trimEnd().split('\n').slice(-lines);
  return last.map((line) => line.split(' ').slice(3).join(' ')).join('; ') || 'no output';
}
