/**
 * Certificates (the `certs` part): an ACME client with HTTP-01 and TLS-ALPN-01 answered by nearby's
 * proxy, the apps domain's wildcard by DNS-01 (nearby's own DNS responder) or a local CA, and the
 * manager that issues and renews them. The proxy serves whatever is in `certs/<hostname>`; nothing
 * here talks to HAProxy.
 */
import type pino from 'pino';
import type { Store } from '../store/types.ts';
import type { HostChallenge } from './challenge-answers.ts';
import { startDnsResponder } from './dns-responder.ts';
import { certErrors } from './errors.ts';
import { runCertManager } from './manager.ts';
import { openSharedLocalCa } from './shared-ca.ts';

export { HOST_CHALLENGES, type HostChallenge } from './challenge-answers.ts';
export { CHALLENGE_PREFIX, type ChallengeResponder, startChallengeResponder } from './challenge-responder.ts';
export { certErrors } from './errors.ts';
export { appDomainHost, appsWildcardHost } from './manager.ts';
export { certFacts, normalizeHostname, renewAt } from './pem.ts';
export { ACME_TLS_ALPN, startTlsAlpnResponder, type TlsAlpnResponder } from './tls-alpn-responder.ts';

/** Let's Encrypt's production directory, used unless `--acme-directory` says otherwise. */
export const DEFAULT_ACME_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

export interface CertificatesOptions {
  store: Store;
  dataDir: string;
  appsDomain: string;
  acmeDirectory?: string;
  /** How `certs add` host names are validated (the proxy must answer it); default HTTP-01. */
  acmeChallenge?: HostChallenge;
  /** Where nearby answers `_acme-challenge.<apps domain>` (DNS-01): set, the apps domain gets an ACME wildcard. */
  acmeDnsListen?: string;
  /** This host's name, recorded with the local CA's path. */
  hostName: string;
  /** The secrets key: the local CA's private key is sealed with it in the store (shared-ca.ts). */
  secretKey: Buffer;
  log: pino.Logger;
  signal: AbortSignal;
}

/**
 * Opens the store's local CA (publishing this data dir's, made if need be, when the store has
 * none) and runs the certificate manager until `signal` aborts.
 */
export async function startCertificates(options: CertificatesOptions): Promise<{ done: Promise<void> }> {
  const localCa = await openSharedLocalCa({
    store: options.store,
    dataDir: options.dataDir,
    secretKey: options.secretKey,
    hostName: options.hostName,
    log: options.log,
  });
  const listen = options.acmeDnsListen ? splitListen(options.acmeDnsListen) : undefined;
  const dns =
    listen === undefined
      ? undefined
      : await startDnsResponder({
          store: options.store,
          domain: options.appsDomain,
          ...listen,
          log: options.log,
        }).catch((error) => {
          // Like metrics, a DNS responder that cannot bind must not stop the server: apps keep
          // their local-CA certificates, and the log says what to change.
          const failure = certErrors.dnsListenFailed(options.acmeDnsListen ?? '', error);
          options.log.error({ code: failure.code, hint: failure.hint }, failure.message);
          return undefined;
        });
  if (dns !== undefined) {
    options.log.info(
      { listen: `${dns.host}:${dns.port}`, name: `_acme-challenge.${options.appsDomain}` },
      `DNS-01 responder up: delegate _acme-challenge.${options.appsDomain} to this host (an NS record) for the apps domain's wildcard`,
    );
  }
  const manager = runCertManager({
    store: options.store,
    acmeDirectory: options.acmeDirectory ?? DEFAULT_ACME_DIRECTORY,
    appsDomain: options.appsDomain,
    localCa,
    log: options.log,
    signal: options.signal,
    challenge: options.acmeChallenge,
    dnsWildcard: dns !== undefined,
    holder: `${options.hostName}:${process.pid}`,
  });
  const done = manager.done.finally(() => dns?.close());
  return { done };
}

/** `host:port`, `[v6]:port` or `:port` (all IPv4 addresses). */
function splitListen(text: string): { host: string; port: number } {
  const cut = text.lastIndexOf(':');
  const host = text.slice(0, cut).replace(/^\[(.*)\]$/, '$1');
  return { host: host || '0.0.0.0', port: Number(text.slice(cut + 1)) };
}
