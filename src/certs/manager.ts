/**
 * The certificate manager (control plane): level-triggered, like the other loops. It issues what
 * `cert-requests/` asks for from ACME, renews certificates when a third of their lifetime is left,
 * retries failures with backoff, and gives every app on the apps domain a local-CA certificate.
 */
import { hostname } from 'node:os';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { AppRecord } from '../model/app.ts';
import type { CertRecord } from '../model/cert.ts';
import type { CertRequest } from '../model/cert-request.ts';
import { keys } from '../model/keys.ts';
import { follow } from '../store/follow.ts';
import { holdLease, type Lease } from '../store/lease.ts';
import { update, values } from '../store/mod.ts';
import { isStoreAway, StoreOutage } from '../store/outage.ts';
import type { Store } from '../store/types.ts';
import { issueWithAcme } from './acme-issue.ts';
import type { HostChallenge } from './challenge-answers.ts';
import type { LocalCa } from './local-ca.ts';
import { certFacts, renewAt } from './pem.ts';

export interface CertManagerOptions {
  store: Store;
  /** ACME directory URL for `certs add`. */
  acmeDirectory: string;
  appsDomain: string;
  localCa: LocalCa;
  log: pino.Logger;
  signal: AbortSignal;
  /** How long one ACME issuance may take. */
  acmeTimeoutMs?: number;
  /** How `certs add` host names are validated; default HTTP-01. */
  challenge?: HostChallenge;
  /** Get `*.<apps domain>` from ACME by DNS-01 (nearby's DNS responder answers the TXT records). */
  dnsWildcard?: boolean;
  /** The clock renewal is judged by (tests move it ahead instead of waiting months). */
  now?: () => number;
  /**
   * Names this manager in `leases/certs`: of all the managers of a cluster only the holder acts
   * (one ACME account, no duplicate orders). Default: this process (`<os host name>:<pid>`).
   */
  holder?: string;
}

/** The lease that makes the cert manager a singleton (`leases/certs`). */
export const CERTS_LEASE = 'certs';

const TICK_MS = 60_000;
const BACKOFF_MIN_MS = 30_000;
const BACKOFF_MAX_MS = 6 * 3600_000;

export const appDomainHost = (app: string, appsDomain: string) => `${app}.${appsDomain}`.toLowerCase();

/** `*.<apps domain>`: the wildcard every app on the apps domain is served with, when DNS-01 is set up. */
export const appsWildcardHost = (appsDomain: string) => `*.${appsDomain}`.toLowerCase();

/** A usable wildcard from ACME: then the local CA's per-app certificates would only shadow it (SNI exact match wins). */
function servesWildcard(record: CertRecord | undefined, now: number): boolean {
  return record !== undefined && record.source === 'acme' && Date.parse(record.not_after) > now;
}

/** Whether a certificate should be replaced now. */
export function dueForRenewal(record: CertRecord | undefined, now = Date.now()): boolean {
  if (record === undefined) return true;
  try {
    return renewAt(certFacts(record.cert_pem)).getTime() <= now;
  } catch {
    return true;
  }
}

export function backoffMs(attempts: number): number {
  return Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempts - 1));
}

export async function toCertRecord(
  hostname: string,
  issued: { certPem: string; keyPem: string },
  source: CertRecord['source'],
  app: string | undefined,
): Promise<CertRecord> {
  const facts = certFacts(issued.certPem);
  return {
    hostname,
    cert_pem: issued.certPem,
    key_pem: issued.keyPem,
    not_after: facts.notAfter.toISOString(),
    source,
    ...(app ? { app } : {}),
  };
}

/** Runs until `signal` aborts. Returns a promise that settles when the loop has stopped. */
export function runCertManager(options: CertManagerOptions): { kick: () => void; done: Promise<void> } {
  const { store, log, signal } = options;
  let wake: (() => void) | undefined;
  let kicked = true;
  const kick = () => {
    kicked = true;
    wake?.();
  };
  for (const prefix of [keys.certRequests(), keys.apps()]) void watchKick(store, prefix, options, kick);
  const lease = holdLease({
    store,
    name: CERTS_LEASE,
    holder: options.holder ?? `${hostname()}:${process.pid}`,
    log,
    signal,
    onChange: (held) => held && kick(),
  });
  const outage = new StoreOutage(log, 'cert manager');

  signal.addEventListener('abort', () => wake?.(), { once: true });
  const done = (async () => {
    while (!signal.aborted) {
      if (kicked) {
        kicked = false;
        try {
          if (lease.held()) await pass(options, lease);
          outage.back();
        } catch (error) {
          if (signal.aborted) break;
          if (isStoreAway(error)) outage.lost(error);
          else log.warn({ err: errorMessage(error) }, 'certificate pass failed; trying again');
          // Tried again soon, not at the next tick: the store may be back in a moment.
          if (isStoreAway(error)) setTimeout(kick, 1_000).unref();
        }
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          kicked = true;
          resolve();
        }, TICK_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (kicked || signal.aborted) wake();
      });
      wake = undefined;
    }
    await lease.done;
  })();
  return { kick, done };
}

async function watchKick(store: Store, prefix: string, options: CertManagerOptions, kick: () => void) {
  const { signal, log } = options;
  for await (const event of follow(store, prefix, { signal, log, what: `cert manager watch of ${prefix}` })) {
    if (event.type !== 'synced') kick();
  }
}

async function pass(options: CertManagerOptions, lease: Lease): Promise<void> {
  const { store, log, signal } = options;
  const now = options.now?.() ?? Date.now();
  const apps = await values<AppRecord>(store, keys.apps());
  const appNames = new Set(apps.map((app) => app.name));
  const certs = new Map((await values<CertRecord>(store, keys.certs())).map((cert) => [cert.hostname, cert]));
  const wildcard = appsWildcardHost(options.appsDomain);
  if (options.dnsWildcard) await askForWildcard(store, wildcard);
  const wildcardServed = options.dnsWildcard === true && servesWildcard(certs.get(wildcard), now);

  // Apps on the apps domain: a local-CA certificate each (until the wildcard is there), gone with the app.
  for (const app of apps) {
    if (wildcardServed) break;
    const hostname = appDomainHost(app.name, options.appsDomain);
    const current = certs.get(hostname);
    if (current !== undefined && current.source !== 'local-ca') continue;
    if (!dueForRenewal(current, now)) continue;
    const record = await toCertRecord(hostname, await options.localCa.issue(hostname), 'local-ca', app.name);
    await store.put(keys.cert(hostname), record);
    log.info({ hostname, app: app.name, not_after: record.not_after }, 'local CA certificate issued');
  }
  for (const cert of certs.values()) {
    const shadowsWildcard =
      wildcardServed && cert.hostname === appDomainHost(cert.app ?? '', options.appsDomain);
    if (
      cert.source === 'local-ca' &&
      cert.app !== undefined &&
      (!appNames.has(cert.app) || shadowsWildcard)
    ) {
      await store.delete(keys.cert(cert.hostname));
    }
  }

  // What users asked for through ACME: new, failed and due for another try, or due for renewal.
  for (const request of await values<CertRequest>(store, keys.certRequests())) {
    // An ACME order takes a while: another manager may hold the lease by now.
    if (signal.aborted || !lease.held()) return;
    if (request.method !== 'acme') continue;
    // A wildcard left from a run with DNS-01 set up: nothing could answer its challenge now.
    if (request.hostname.startsWith('*.') && !options.dnsWildcard) continue;
    const current = certs.get(request.hostname);
    const retryAt = request.next_attempt_at ? Date.parse(request.next_attempt_at) : 0;
    const wanted =
      request.status === 'pending' ||
      (request.status === 'failed' && retryAt <= now) ||
      (request.status === 'issued' && dueForRenewal(current, now));
    if (wanted) await issueOne(options, request);
  }
}

async function issueOne(options: CertManagerOptions, request: CertRequest): Promise<void> {
  const { store, log, signal } = options;
  const { hostname, app } = request;
  log.info({ hostname, app, directory: options.acmeDirectory }, 'requesting a certificate from ACME');
  let result: { record: CertRecord } | { error: string };
  try {
    const issued = await issueWithAcme({
      store,
      directoryUrl: options.acmeDirectory,
      hostname,
      challenge: options.challenge,
      signal,
      timeoutMs: options.acmeTimeoutMs,
    });
    result = { record: await toCertRecord(hostname, issued, 'acme', app) };
  } catch (error) {
    if (signal.aborted) return;
    result = { error: errorMessage(error) };
  }
  // The request may have been removed meanwhile: then the certificate is not wanted either.
  const still = await store.get<CertRequest>(keys.certRequest(hostname));
  if (still === undefined || still.value.app !== app) return;
  const now = new Date();
  if ('record' in result) {
    await store.put(keys.cert(hostname), result.record);
    log.info({ hostname, app, not_after: result.record.not_after }, 'ACME certificate issued');
  } else {
    log.warn({ hostname, app, err: result.error }, 'ACME certificate not issued');
  }
  await update<CertRequest>(store, keys.certRequest(hostname), (current) => {
    if (current === undefined || current.app !== app) return undefined;
    if ('record' in result) {
      const { error: _, ...rest } = current;
      return {
        ...rest,
        status: 'issued',
        attempts: 0,
        updated_at: now.toISOString(),
        next_attempt_at: renewAt(certFacts(result.record.cert_pem)).toISOString(),
      };
    }
    const attempts = current.attempts + 1;
    return {
      ...current,
      status: 'failed',
      error: result.error,
      attempts,
      updated_at: now.toISOString(),
      next_attempt_at: new Date(now.getTime() + backoffMs(attempts)).toISOString(),
    };
  });
}

/** The wildcard's request (no app owns it), written once; the loop below issues and renews it. */
async function askForWildcard(store: Store, hostname: string): Promise<void> {
  await update<CertRequest>(store, keys.certRequest(hostname), (current) => {
    if (current !== undefined) return undefined;
    const now = new Date().toISOString();
    return {
      hostname,
      app: '',
      method: 'acme',
      status: 'pending',
      created_at: now,
      updated_at: now,
      attempts: 0,
    };
  });
}
