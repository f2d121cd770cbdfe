/**
 * The agent's side of the guest control port (virtio-serial `nearby.ctl`, a unix socket on the
 * host): signals and exec requests for native/init/init.c, one connection at a time per VM (QEMU
 * accepts one client), so requests to one VM are queued.
 */
import { createConnection } from 'node:net';
import type { ExecResult } from '../types.ts';

const queues = new Map<string, Promise<unknown>>();

function serialized<T>(socket: string, work: () => Promise<T>): Promise<T> {
  const previous = queues.get(socket) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(work);
  queues.set(socket, next);
  void next
    .finally(() => {
      if (queues.get(socket) === next) queues.delete(socket);
    })
    .catch(() => {});
  return next;
}

/** Sends `request` and resolves with the first line `accept` takes. */
function converse(
  socket: string,
  request: string,
  accept: (line: string) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string | undefined> {
  return serialized(
    socket,
    () =>
      new Promise<string | undefined>((resolve, reject) => {
        const conn = createConnection(socket);
        let buffer = '';
        const done = (error?: Error, line?: string) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          conn.destroy();
          if (error) reject(error);
          else resolve(line);
        };
        const timer = setTimeout(() => done(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
        const onAbort = () => done(new Error('aborted'));
        signal?.addEventListener('abort', onAbort, { once: true });
        conn.on('error', (error) => done(error));
        conn.on('connect', () => conn.write(request));
        conn.on('data', (chunk) => {
          buffer += chunk.toString('latin1');
          for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
            const line = buffer.slice(0, nl);
            buffer = buffer.slice(nl + 1);
            if (accept(line)) return done(undefined, line);
          }
        });
      }),
  );
}

export async function sendSignal(socket: string, signalNumber: number, timeoutMs = 5_000): Promise<void> {
  await converse(socket, `K ${signalNumber}\n`, (l) => l === 'k', Math.max(1, timeoutMs));
}

/** Whether the guest's init answers and its entrypoint runs. */
export async function ping(socket: string, timeoutMs = 3_000): Promise<boolean> {
  const line = await converse(socket, 'P\n', (l) => l.startsWith('P '), timeoutMs);
  return line === 'P 1';
}

let nextRequest = 1;

export async function execInGuest(
  socket: string,
  args: string[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ExecResult> {
  const id = nextRequest++;
  const hexArgs = args.map((arg) => Buffer.from(arg).toString('hex')).join(' ');
  // The guest kills the command at the timeout; we wait a little longer for its answer.
  const line = await converse(
    socket,
    `X ${id} ${timeoutMs} ${hexArgs}\n`,
    (l) => l.startsWith(`R ${id} `),
    timeoutMs + 5_000,
    signal,
  );
  const [, , code, out = '', err = ''] = (line ?? '').split(' ');
  return {
    exitCode: Number(code),
    stdout: Buffer.from(out, 'hex').toString(),
    stderr: Buffer.from(err, 'hex').toString(),
  };
}
