/**
 * Answers ACME TLS-ALPN-01 challenges (RFC 8737): HAProxy's TLS port sends ClientHellos that offer
 * ALPN `acme-tls/1` here (a loopback TLS listener in the proxy's process), and the certificate for
 * the SNI name comes from the store, so whichever proxy the ACME server reaches can answer.
 */
import type { Socket } from 'node:net';
import { createSecureContext, createServer, type SecureContext } from 'node:tls';
import type pino from 'pino';
import { bindLoopback } from '../loopback-server.ts';
import { keys } from '../model/keys.ts';
import { values } from '../store/mod.ts';
import type { Store } from '../store/types.ts';
import type { AcmeChallengeRecord } from './challenge-answers.ts';

export const ACME_TLS_ALPN = 'acme-tls/1';

export interface TlsAlpnResponder {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** The challenge certificate published for `servername`, if one is being validated now. */
async function contextFor(store: Store, servername: string): Promise<SecureContext | undefined> {
  const name = servername.toLowerCase();
  // Challenges are few and short-lived: a scan of the prefix costs less than a second index.
  const records = await values<AcmeChallengeRecord>(store, keys.acmeChallenge(''));
  const record = records.find(
    (entry) => entry.type === 'tls-alpn-01' && entry.hostname === name && entry.cert_pem && entry.key_pem,
  );
  if (record === undefined) return undefined;
  return createSecureContext({ cert: record.cert_pem, key: record.key_pem });
}

/** `port`: the loopback port to take when free (the one a running HAProxy names). */
export async function startTlsAlpnResponder(
  store: Store,
  log: pino.Logger,
  port = 0,
): Promise<TlsAlpnResponder> {
  const server = createServer({
    ALPNProtocols: [ACME_TLS_ALPN],
    // The ACME server only needs the handshake; an idle connection is not kept.
    handshakeTimeout: 10_000,
    SNICallback: (servername, callback) => {
      contextFor(store, servername).then(
        (context) => {
          if (context === undefined)
            log.warn({ hostname: servername }, 'no TLS-ALPN-01 challenge for this name');
          else log.info({ hostname: servername }, 'ACME TLS-ALPN-01 challenge answered');
          callback(null, context);
        },
        (error) => callback(error as Error, undefined),
      );
    },
  });
  server.on('secureConnection', (socket) => {
    socket.on('error', () => {});
    socket.end();
  });
  server.on('tlsClientError', () => {});
  const { address, port: bound } = await bindLoopback(server, port);
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    host: address,
    port: bound,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}
