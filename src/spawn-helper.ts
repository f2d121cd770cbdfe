/**
 * The spawn helper (run-command.ts): a small Node process that spawns host commands for
 * `nearby server` and reports their output over the IPC channel. It imports nothing of nearby's,
 * so its heap stays small and each fork it makes copies little (docs/perf.md, "Spawning from a
 * small process"). It exits with its parent: when the channel closes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { HelperReply, HelperRequest } from './run-command.ts';

const running = new Map<number, ChildProcess>();

function reply(message: HelperReply): void {
  if (process.connected) process.send?.(message);
}

function run(request: HelperRequest): void {
  const child = spawn(request.file, request.args, {
    stdio: [
      request.input === undefined ? 'ignore' : 'pipe',
      request.discardStdout ? 'ignore' : 'pipe',
      'pipe',
    ],
    timeout: request.timeoutMs,
    cwd: request.cwd,
    detached: request.detached,
    killSignal: 'SIGKILL',
  });
  running.set(request.id, child);
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  let failed = false;
  child.on('error', (error: NodeJS.ErrnoException) => {
    // A timeout or a kill still reports through 'close'; only a failure to spawn at all is told.
    if (error.code !== 'ENOENT') return;
    failed = true;
    running.delete(request.id);
    reply({ id: request.id, error: { code: error.code, message: error.message } });
  });
  child.on('close', (code, signal) => {
    running.delete(request.id);
    if (failed) return;
    reply({
      id: request.id,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
      code,
      signal,
    });
  });
  // A command that exits before reading its input is reported by its exit code, not EPIPE.
  child.stdin?.on('error', () => {});
  child.stdin?.end(request.input);
}

process.on('message', (message: HelperRequest | { abort: number }) => {
  if ('abort' in message) running.get(message.abort)?.kill('SIGKILL');
  else run(message);
});
// nearby exited (or closed the channel): commands still running go on, as they would have.
process.on('disconnect', () => process.exit(0));
reply({ ready: true });
