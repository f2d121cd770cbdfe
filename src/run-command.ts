/**
 * Runs a short-lived host command (crun, ip, nft, mount…) and collects its output: the one place
 * nearby spawns helpers, so timeouts, aborts and input behave the same everywhere.
 */
import { spawn } from 'node:child_process';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the command was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Written to the command's stdin (otherwise stdin is /dev/null). */
  input?: string;
  /** The command's working directory (default: nearby's). */
  cwd?: string;
}

export function runCommand(
  file: string,
  args: string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      cwd: options.cwd,
      signal: options.signal,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      // An abort still reports through 'close'; only a failure to spawn at all rejects.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(error);
    });
    child.on('close', (code, signal) => {
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code,
        signal,
      });
    });
    // A command that exits before reading its input is reported by its exit code, not EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input);
  });
}
