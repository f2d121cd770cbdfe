/**
 * Serves interactive consoles for this host's machines on a unix socket (mode 0600: only root and
 * nearby reach it; the API authenticates users and relays) and, on a cluster host, on a TCP port
 * for APIs on other hosts: there a session needs the API's one-time grant from the store
 * (`ConsoleGrant`). One JSON line asks for a session, one line answers, then frames
 * (src/model/console.ts) flow both ways until the command exits.
 */
import { createHash } from 'node:crypto';
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage, isNearbyError, NearbyError } from '../errors.ts';
import {
  type ConsoleAnswer,
  type ConsoleGrant,
  type ConsoleRequest,
  FRAME,
  FrameReader,
  frame,
} from '../model/console.ts';
import { keys } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import type { ConsoleProcess, RuntimeDriver } from './runtime/types.ts';

type Authorize = (request: ConsoleRequest) => Promise<void>;

export async function serveConsoles(
  path: string,
  runtime: RuntimeDriver,
  log: Logger,
  signal: AbortSignal,
): Promise<void> {
  await rm(path, { force: true });
  await listen(path, runtime, log, signal, async () => {});
  await chmod(path, 0o600);
}

/**
 * The TCP listener (`host:port`) for APIs on other hosts; resolves with the port it bound.
 * @throws NearbyError CONSOLE_LISTEN_FAILED
 */
export async function serveRemoteConsoles(
  options: { listen: string; store: Store; host: string },
  runtime: RuntimeDriver,
  log: Logger,
  signal: AbortSignal,
): Promise<number> {
  const index = options.listen.lastIndexOf(':');
  const host = options.listen.slice(0, index).replace(/^\[|\]$/g, '') || '0.0.0.0';
  const port = Number(options.listen.slice(index + 1));
  const server = await listen(
    { host, port },
    runtime,
    log,
    signal,
    grantChecker(options.store, options.host),
  ).catch((cause) => {
    throw new NearbyError(
      'CONSOLE_LISTEN_FAILED',
      `the console listener cannot listen on ${options.listen}`,
      {
        hint: 'pick a free --console-listen address, or off',
        cause,
      },
    );
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

/** A session over TCP is the one the API granted: that machine, that command, once, in time. */
function grantChecker(store: Store, host: string): Authorize {
  return async (request) => {
    const refused = () =>
      new NearbyError(
        'CONSOLE_NOT_GRANTED',
        'this console session was not granted by the API (or was used already)',
        {
          status: 403,
        },
      );
    if (!request.grant) throw refused();
    const key = keys.consoleGrant(host, createHash('sha256').update(request.grant).digest('hex'));
    const entry = await store.get<ConsoleGrant>(key);
    if (!entry) throw refused();
    // Used once: whoever deletes it first has it.
    if (!(await store.delete(key, { expectRevision: entry.revision }))) throw refused();
    const grant = entry.value;
    const same =
      grant.machine === request.machine && JSON.stringify(grant.command) === JSON.stringify(request.command);
    if (!same || Date.parse(grant.expires_at) < Date.now()) throw refused();
  };
}

async function listen(
  where: string | { host: string; port: number },
  runtime: RuntimeDriver,
  log: Logger,
  signal: AbortSignal,
  authorize: Authorize,
): Promise<Server> {
  const sessions = new Set<Socket>();
  const server = createServer((socket) => {
    sessions.add(socket);
    socket.on('close', () => sessions.delete(socket));
    session(socket, runtime, authorize).catch((error) => {
      log.warn({ err: error }, 'console session failed');
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(where, () => resolve());
  });
  signal.addEventListener(
    'abort',
    () => {
      server.close();
      for (const socket of sessions) socket.destroy();
    },
    { once: true },
  );
  return server;
}

async function session(socket: Socket, runtime: RuntimeDriver, authorize: Authorize): Promise<void> {
  const { request, rest } = await readRequest(socket);
  const answer = (value: ConsoleAnswer) => socket.write(`${JSON.stringify(value)}\n`);
  let child: ConsoleProcess;
  try {
    await authorize(request);
    if (!runtime.console) {
      throw new NearbyError('CONSOLE_UNSUPPORTED', `the ${runtime.name} runtime does not offer consoles`, {
        status: 501,
        hint: 'use `nearby machine exec ID COMMAND...` instead',
      });
    }
    child = await runtime.console(request.machine, request.command, request);
  } catch (error) {
    const status = isNearbyError(error) ? error.status : 500;
    const code = isNearbyError(error) ? error.code : 'CONSOLE_FAILED';
    answer({ ok: false, code, status, message: errorMessage(error) });
    socket.end();
    return;
  }
  answer({ ok: true });
  const reader = new FrameReader();
  const onFrames = (chunk: Buffer) => {
    for (const { type, payload } of reader.push(chunk)) {
      if (type === FRAME.stdin) child.stdin.write(payload);
      else if (type === FRAME.eof) child.stdin.end();
      else if (type === FRAME.resize) {
        const [rows, cols] = payload.toString().split(' ').map(Number);
        if (rows > 0 && cols > 0) child.resize(rows, cols);
      }
    }
  };
  if (rest.length) onFrames(rest);
  socket.on('data', onFrames);
  // The client went away: end the command as a hung-up terminal would.
  socket.on('close', () => child.kill());
  socket.on('error', () => {});
  const pipe = (stream: NodeJS.ReadableStream, type: typeof FRAME.stdout | typeof FRAME.stderr) =>
    new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => socket.write(frame(type, chunk)));
      stream.on('end', resolve);
      stream.on('error', () => resolve());
    });
  const [code] = await Promise.all([
    child.exited,
    pipe(child.stdout, FRAME.stdout),
    pipe(child.stderr, FRAME.stderr),
  ]);
  socket.end(frame(FRAME.exit, String(code)));
}

function readRequest(socket: Socket): Promise<{ request: ConsoleRequest; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const newline = buffered.indexOf(10);
      if (newline < 0) {
        if (buffered.length > 64 * 1024) reject(new Error('console request line too long'));
        return;
      }
      socket.off('data', onData);
      try {
        resolve({
          request: JSON.parse(buffered.subarray(0, newline).toString()),
          rest: buffered.subarray(newline + 1),
        });
      } catch (error) {
        reject(error);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error('console client left before asking')));
  });
}
