/**
 * An HTTP server on a free loopback port: how nearby's Node listeners (the activator, the
 * replayer, the ACME challenge responder) sit behind HAProxy in the same host.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LoopbackServer {
  host: string;
  port: number;
  /** Stops listening and cuts open connections (HAProxy keeps some idle ones). */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 on a port the kernel picks. `keepAliveMs`: how long idle connections stay. */
export async function listenOnLoopback(server: Server, keepAliveMs: number): Promise<LoopbackServer> {
  server.keepAliveTimeout = keepAliveMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    host: address,
    port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
