/**
 * Certificates (the `certs` part): an ACME client with HTTP-01 answered by nearby's proxy, a local
 * CA for apps on the apps domain, and the manager that issues and renews both. The proxy serves
 * whatever is in `certs/<hostname>`; nothing here talks to HAProxy.
 */
import type pino from 'pino';
import type { LocalCaRecord } from '../model/cert-request.ts';
import { keys } from '../model/keys.ts';
import type { Store } from '../store/types.ts';
import { openLocalCa } from './local-ca.ts';
import { runCertManager } from './manager.ts';

export { CHALLENGE_PREFIX, type ChallengeResponder, startChallengeResponder } from './challenge-responder.ts';
export { certErrors } from './errors.ts';
export { appDomainHost } from './manager.ts';
export { certFacts, normalizeHostname, renewAt } from './pem.ts';

/** Let's Encrypt's production directory, used unless `--acme-directory` says otherwise. */
export const DEFAULT_ACME_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';

export interface CertificatesOptions {
  store: Store;
  dataDir: string;
  appsDomain: string;
  acmeDirectory?: string;
  /** This host's name, recorded with the local CA's path. */
  hostName: string;
  log: pino.Logger;
  signal: AbortSignal;
}

/** Opens (or creates) the local CA and runs the certificate manager until `signal` aborts. */
export async function startCertificates(options: CertificatesOptions): Promise<{ done: Promise<void> }> {
  const localCa = await openLocalCa(options.dataDir);
  const caRecord: LocalCaRecord = {
    cert_pem: localCa.certPem,
    path: localCa.certPath,
    host: options.hostName,
  };
  await options.store.put(keys.localCa(), caRecord);
  const manager = runCertManager({
    store: options.store,
    acmeDirectory: options.acmeDirectory ?? DEFAULT_ACME_DIRECTORY,
    appsDomain: options.appsDomain,
    localCa,
    log: options.log,
    signal: options.signal,
  });
  return { done: manager.done };
}
