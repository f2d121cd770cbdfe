/**
 * `nearby dns serve`: the GeoDNS on UDP and TCP (RFC 1035's two-byte length framing, several
 * queries a connection), answering from geo-answer.ts, one log line per answered name, until
 * the signal aborts.
 */
import { createSocket } from 'node:dgram';
import { createServer, isIP } from 'node:net';
import { serveDnsOverTcp } from '../dns/tcp-framing.ts';
import { edgeError } from './errors.ts';
import { type GeoTables, geoAnswer } from './geo-answer.ts';

export interface GeoDnsOptions {
  host: string;
  port: number;
  /** The tables; a function so a reload (SIGHUP) takes effect on the next query. */
  tables: () => GeoTables;
  /** One line per answered name: `PEER [ecs SUBNET] (CITY) NAME → REGION`. */
  log: (line: string) => void;
  /** Called once both sockets are bound. */
  ready?: () => void;
}

export async function serveGeoDns(options: GeoDnsOptions, signal: AbortSignal): Promise<void> {
  const answer = (query: Buffer, peer: string) => {
    const { reply, name, decision } = geoAnswer(query, options.tables(), peer);
    if (name !== undefined && decision)
      options.log(
        `${peer.replace(/^::ffff:/, '')}${decision.ecs ? ` ecs ${decision.ecs}` : ''} (${decision.city ?? 'unlisted'}) ${name} → ${decision.region ?? 'none'}`,
      );
    return reply;
  };
  const udp = createSocket(isIP(options.host) === 6 ? 'udp6' : 'udp4');
  udp.on('message', (query, peer) => udp.send(answer(query, peer.address), peer.port, peer.address));
  const tcp = createServer((socket) =>
    serveDnsOverTcp(socket, answer, (error) => options.log(`dns error: ${(error as Error).message}`)),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(options.port, options.host, () => resolve());
    });
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(options.port, options.host, () => resolve());
    });
  } catch (error) {
    udp.close();
    tcp.close();
    throw edgeError(
      'EDGE_LISTEN_FAILED',
      `cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`,
      'port 53 needs root (or CAP_NET_BIND_SERVICE); pick a free address with --listen',
      error,
    );
  }
  udp.on('error', (error) => options.log(`dns error: ${error.message}`));
  options.ready?.();
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  udp.close();
  tcp.close();
}
