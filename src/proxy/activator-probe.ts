/**
 * Waits until a machine accepts TCP connections on its port. A stopped machine's address and
 * network namespace are kept, so a connect is refused at once until its server listens: probing
 * every few milliseconds costs little and notices the listener within that time.
 */
import { connect } from 'node:net';

const PROBE_EVERY_MS = 3;
const CONNECT_TIMEOUT_MS = 1_000;

function probe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Resolves true once `host:port` accepts a connection, false at `deadline`, or the reason that
 * `failed()` gives to stop waiting early (the machine failed to start).
 */
export async function waitForListener(
  host: string,
  port: number,
  deadline: number,
  failed: () => string | undefined = () => undefined,
): Promise<true | false | string> {
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    if (await probe(host, port, Math.min(left, CONNECT_TIMEOUT_MS))) return true;
    const reason = failed();
    if (reason !== undefined) return reason;
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
  }
}
