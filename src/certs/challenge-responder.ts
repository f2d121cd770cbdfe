/**
 * Answers ACME HTTP-01 challenges: HAProxy sends `/.well-known/acme-challenge/<token>` on its HTTP
 * port here (a loopback listener in the proxy's process), and the answer comes from the store, so
 * whichever proxy the ACME server reaches knows every token the control plane published.
 */
import { createServer } from 'node:http';
import type pino from 'pino';
import { listenOnLoopback } from '../loopback-server.ts';
import { keys } from '../model/keys.ts';
import type { Store } from '../store/types.ts';
import type { AcmeChallengeRecord } from './challenge-answers.ts';

export const CHALLENGE_PREFIX = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export interface ChallengeResponder {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** `port`: the loopback port to take when free (the one a running HAProxy names). */
export async function startChallengeResponder(
  store: Store,
  log: pino.Logger,
  port = 0,
): Promise<ChallengeResponder> {
  const server = createServer(async (request, response) => {
    const path = (request.url ?? '').split('?')[0];
    const token = path.startsWith(CHALLENGE_PREFIX) ? path.slice(CHALLENGE_PREFIX.length) : '';
    const entry = TOKEN.test(token)
      ? await store.get<AcmeChallengeRecord>(keys.acmeChallenge(token)).catch(() => undefined)
      : undefined;
    const isHttp01 = (entry?.value.type ?? 'http-01') === 'http-01';
    if (entry === undefined || !isHttp01 || request.method !== 'GET') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('no such ACME challenge\n');
      return;
    }
    log.info({ hostname: entry.value.hostname, token }, 'ACME challenge answered');
    response.writeHead(200, { 'content-type': 'text/plain' }).end(entry.value.key_authorization);
  });
  return listenOnLoopback(server, 5000, port);
}
