/**
 * Interactive commands in a running container (`nearby ssh console`). With a terminal, the runtime
 * starts the command detached and hands the terminal to `native/pty-relay`, which relays it over
 * pipes; without one, `RUNTIME exec` runs in the foreground with plain pipes.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsoleOptions, ConsoleProcess } from './types.ts';

export const PTY_RELAY_PATH = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'native',
  'build',
  'pty-relay',
);

export function runtimeConsole(
  runtime: { bin: string; root: string },
  id: string,
  args: string[],
  options: ConsoleOptions,
): ConsoleProcess {
  const envArgs = (options.env ?? []).flatMap((pair) => ['--env', pair]);
  const base = ['--root', runtime.root, 'exec', '--no-new-privs', ...envArgs];
  if (!options.tty) {
    const child = spawn(runtime.bin, [...base, id, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    return wrap(
      child,
      () => {},
      () => {
        // Closing its pipes ends a shell reading stdin even if the runtime's kill does not reach it.
        child.stdin.destroy();
        child.stdout.destroy();
        child.stderr.destroy();
        child.kill('SIGKILL');
      },
    );
  }
  const tag = randomBytes(6).toString('hex');
  // A unix socket path must fit in 108 bytes: the runtime's state dir may be deep, tmpdir is not.
  const socket = join(tmpdir(), `nearby-pty-${tag}.sock`);
  const pidFile = join(tmpdir(), `nearby-pty-${tag}.pid`);
  const child = spawn(
    PTY_RELAY_PATH,
    [
      socket,
      pidFile,
      String(options.rows ?? 24),
      String(options.cols ?? 80),
      '--',
      runtime.bin,
      ...base,
      '--detach',
      '--tty',
      '--console-socket',
      socket,
      '--pid-file',
      pidFile,
      id,
      ...args,
    ],
    { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] },
  );
  const control = child.stdio[3] as NodeJS.WritableStream;
  control.on('error', () => {});
  const session = wrap(
    child,
    (rows, cols) => control.write(`${rows} ${cols}\n`),
    // SIGTERM ends the relay; closing the terminal's master sends SIGHUP to the command, as sshd does.
    () => child.kill('SIGTERM'),
  );
  session.exited.finally(() => Promise.all([rm(socket, { force: true }), rm(pidFile, { force: true })]));
  return session;
}

function wrap(
  child: ReturnType<typeof spawn>,
  resize: (rows: number, cols: number) => void,
  kill: () => void,
): ConsoleProcess {
  child.stdin?.on('error', () => {});
  const exited = new Promise<number>((resolve) => {
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
  return {
    stdin: child.stdin as NodeJS.WritableStream,
    stdout: child.stdout as NodeJS.ReadableStream,
    stderr: child.stderr as NodeJS.ReadableStream,
    resize,
    exited,
    kill,
  };
}
