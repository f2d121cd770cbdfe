/**
 * DNS over UDP and TCP (RFC 1035 §4.2, RFC 7766) on given addresses: each datagram or
 * length-prefixed TCP message is handed to one handler, its reply sent back the way it came.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type pino from 'pino';
import { dnsError } from './errors.ts';
import { serveDnsOverTcp } from './tcp-framing.ts';

export type DnsHandler = (
  query: Buffer,
  peer: string,
  transport: 'udp' | 'tcp',
) => Promise<Buffer | undefined>;

/**
 * Listens on `port` of every address until `signal` aborts.
 * @throws NearbyError DNS_LISTEN_FAILED when an address cannot be bound (nothing stays bound)
 */
export async function listenDns(
  addresses: readonly string[],
  port: number,
  handler: DnsHandler,
  signal: AbortSignal,
  log: pino.Logger,
): Promise<void> {
  const udps: UdpSocket[] = [];
  const tcps: Server[] = [];
  const connections = new Set<Socket>();
  const closeAll = () => {
    for (const socket of udps) socket.close();
    for (const server of tcps) server.close();
    for (const connection of connections) connection.destroy();
  };
  try {
    for (const address of addresses) {
      udps.push(await bindUdp(address, port, handler, log));
      tcps.push(await listenTcp(address, port, handler, connections, log));
    }
  } catch (error) {
    closeAll();
    throw dnsError(
      'DNS_LISTEN_FAILED',
      `the machines' resolver cannot listen on port ${port} of ${addresses.join(', ')}: ${(error as Error).message}`,
      "another DNS server may hold port 53 on every address: bind it to its own addresses, or run the agent with --dns-upstream off (machines then use the host's resolvers)",
      error,
    );
  }
  signal.addEventListener('abort', closeAll, { once: true });
}

function bindUdp(address: string, port: number, handler: DnsHandler, log: pino.Logger) {
  const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
  socket.on('message', (query, peer) => {
    handler(query, peer.address, 'udp').then(
      (reply) => {
        if (reply) socket.send(reply, peer.port, peer.address);
      },
      (error) => log.warn({ err: error }, 'dns query failed'),
    );
  });
  return new Promise<UdpSocket>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      socket.on('error', (error) => log.warn({ err: error }, 'dns socket error'));
      resolve(socket);
    });
  });
}

function listenTcp(
  address: string,
  port: number,
  handler: DnsHandler,
  connections: Set<Socket>,
  log: pino.Logger,
) {
  const server = createServer((socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
    serveDnsOverTcp(
      socket,
      (query, peer) => handler(query, peer, 'tcp'),
      (error) => log.warn({ err: error }, 'dns query failed'),
    );
  });
  return new Promise<Server>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
