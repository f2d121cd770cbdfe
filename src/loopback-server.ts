/**
 * An HTTP server on a loopback port: how nearby's Node listeners (the activator, the replayer, the
 * ACME challenge responders) sit behind HAProxy in the same host.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';

export interface LoopbackServer {
  host: string;
  port: number;
  /** Stops listening and cuts open connections (HAProxy keeps some idle ones). */
  close(): Promise<void>;
}

/**
 * Listens on 127.0.0.1, on `port` when it is free (the one a HAProxy left running already names),
 * else on a port the kernel picks.
 */
export async function bindLoopback(server: NetServer, port = 0): Promise<AddressInfo> {
  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      const failed = (error: Error) => reject(error);
      server.once('error', failed);
      server.listen(at, '127.0.0.1', () => {
        server.off('error', failed);
        resolve();
      });
    });
  try {
    await listen(port);
  } catch (error) {
    if (port === 0 || (error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    await listen(0);
  }
  return server.address() as AddressInfo;
}

/** An HTTP server on loopback (see bindLoopback). `keepAliveMs`: how long idle connections stay. */
export async function listenOnLoopback(
  server: Server,
  keepAliveMs: number,
  port = 0,
): Promise<LoopbackServer> {
  server.keepAliveTimeout = keepAliveMs;
  const { address, port: bound } = await bindLoopback(server, port);
  return {
    host: address,
    port: bound,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
