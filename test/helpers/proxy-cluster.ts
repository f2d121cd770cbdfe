/**
 * For tests of routing across hosts: a cluster credential made with openssl (one self-signed
 * certificate all test proxies share, which is also the CA), and a TCP relay that delays every
 * chunk, so a peer behind it is measurably farther away (loopback has no real distance).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeBackhaulCredential } from '../../src/proxy/backhaul-credential.ts';

export interface TestCredential {
  /** The certificate and its key in one PEM. */
  certFile: string;
  /** The certificate alone: the CA of a cluster whose proxies share this certificate. */
  caFile: string;
  /** The key alone. */
  keyFile: string;
  close(): void;
}

/** A certificate and key (one PEM) signed by nothing but itself; `caFile` is the certificate. */
export async function makeClusterCredential(name = 'nearby test cluster'): Promise<TestCredential> {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-cluster-cred-'));
  const credential = await makeBackhaulCredential(dir, name, 2);
  return { ...credential, close: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Listens on `listenHost:listenPort` and relays to `target`, holding every chunk `delayMs` each way.
 * `accepted()`: the connections it has taken so far.
 */
export async function startDelayRelay(
  listenHost: string,
  listenPort: number,
  target: { host: string; port: number },
  delayMs: number,
): Promise<{ accepted(): number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const delayed = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => setTimeout(() => to.writable && to.write(chunk), delayMs));
    from.on('end', () => setTimeout(() => to.end(), delayMs));
    from.on('error', () => to.destroy());
    from.on('close', () => setTimeout(() => to.destroy(), delayMs));
  };
  const server = createServer((client) => {
    accepted += 1;
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    delayed(client, upstream);
    delayed(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, listenHost, resolve));
  return {
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
