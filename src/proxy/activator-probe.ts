/**
 * Waits until a machine accepts TCP connections on its port. A stopped machine's address and
 * network namespace are kept, so a connect is refused at once until its server listens: probing
 * every few milliseconds costs little and notices the listener within that time. The connection
 * that succeeds is handed back, so the first held request goes on it rather than on a new one (one
 * connect, and one turn of a busy event loop, fewer on a wake's path).
 */
import { connect, type Socket } from 'node:net';

const PROBE_EVERY_MS = 3;
const CONNECT_TIMEOUT_MS = 1_000;

/** One connect to `host:port`: the socket once connected, undefined when refused or timed out. */
export function probe(host: string, port: number, timeoutMs: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeListener('error', failed);
      if (ok) {
        // Until a request takes it: an error (the machine gone) must not go unhandled.
        socket.on('error', () => {});
        resolve(socket);
        return;
      }
      socket.destroy();
      resolve(undefined);
    };
    const failed = () => done(false);
    const timer = setTimeout(failed, timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', failed);
  });
}

/**
 * Resolves with a connected socket once `host:port` accepts a connection, false at `deadline`, or
 * the reason that `failed()` gives to stop waiting early (the machine failed to start). The caller
 * owns the socket: it sends a request on it or destroys it.
 */
export async function connectWhenListening(
  host: string,
  port: number,
  deadline: number,
  failed: () => string | undefined = () => undefined,
): Promise<Socket | false | string> {
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const socket = await probe(host, port, Math.min(left, CONNECT_TIMEOUT_MS));
    if (socket !== undefined) return socket;
    const reason = failed();
    if (reason !== undefined) return reason;
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
  }
}
