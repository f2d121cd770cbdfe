/**
 * Node's side of the backhaul: the TLS credential a proxy shows other proxies, for the requests
 * Node itself sends there (RTT probes, replays to a machine on another host). HAProxy reads the
 * same files (backhaul-config.ts).
 */
import { readFileSync } from 'node:fs';
import { Agent, type RequestOptions, request } from 'node:https';
import { backhaulCredentialUnreadable } from './errors.ts';
import type { ListenAddress } from './haproxy-config.ts';

export interface BackhaulCredential {
  /** PEM with this proxy's certificate and its key. */
  certFile: string;
  /** PEM with the CA that peers' certificates chain to. */
  caFile: string;
}

/**
 * A keep-alive agent presenting this proxy's certificate and trusting only the cluster's CA. The
 * peer's host name is not checked: the CA is the cluster's own and signs only its proxies.
 * @throws NearbyError PROXY_BACKHAUL_CREDENTIAL (a file is missing or not PEM)
 */
export function backhaulAgent(credential: BackhaulCredential): Agent {
  let pem: string;
  let ca: string;
  try {
    pem = readFileSync(credential.certFile, 'utf8');
    ca = readFileSync(credential.caFile, 'utf8');
  } catch (error) {
    throw backhaulCredentialUnreadable(`${credential.certFile}, ${credential.caFile}`, error);
  }
  if (
    !pem.includes('PRIVATE KEY-----') ||
    !pem.includes('CERTIFICATE-----') ||
    !ca.includes('CERTIFICATE-----')
  ) {
    throw backhaulCredentialUnreadable(credential.certFile);
  }
  return new Agent({
    keepAlive: true,
    maxSockets: 16,
    cert: pem,
    key: pem,
    ca,
    checkServerIdentity: () => undefined,
  });
}

/** Request options for `https.request` to a peer's backhaul. */
export function backhaulRequest(agent: Agent, peer: ListenAddress, options: RequestOptions): RequestOptions {
  return { ...options, agent, host: peer.host, port: peer.port };
}

/** One round trip to a peer's backhaul (a request HAProxy answers itself), in milliseconds. */
export function pingPeer(
  agent: Agent,
  peer: ListenAddress,
  path: string,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const outgoing = request(backhaulRequest(agent, peer, { method: 'GET', path }), (response) => {
      response.resume();
      response.on('end', () => {
        if (response.statusCode === 200) resolve(performance.now() - started);
        else reject(new Error(`the backhaul answered ${response.statusCode}`));
      });
    });
    outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end();
  });
}
