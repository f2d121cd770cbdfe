/**
 * One certificate from an ACME server: the account (kept in the store per directory URL), an
 * order, the challenge answers (HTTP-01, TLS-ALPN-01 or DNS-01) published in the store for every
 * proxy or DNS responder to serve, finalize with a CSR, and the chain.
 */
import { createHash } from 'node:crypto';
import { keys } from '../model/keys.ts';
import type { Store } from '../store/types.ts';
import { AcmeClient, type Authorization, describeProblem, type Order } from './acme-client.ts';
import {
  type AcmeChallengeRecord,
  type ChallengeType,
  dnsChallengeName,
  dnsTxtValue,
  tlsAlpnCertificate,
} from './challenge-answers.ts';
import { certErrors } from './errors.ts';
import { type AccountKey, accountKey, keyAuthorization } from './jws.ts';
import { csrDer, newPrivateKeyPem } from './pem.ts';

/** `acme-accounts/<sha256 of the directory URL>`. */
export interface AcmeAccountRecord {
  directory: string;
  key_pem: string;
  url: string;
  created_at: string;
}

export type { AcmeChallengeRecord } from './challenge-answers.ts';

export interface IssueOptions {
  store: Store;
  directoryUrl: string;
  /** A host name, or `*.domain` (a wildcard: always DNS-01). */
  hostname: string;
  /** How a host name (not a wildcard) is validated; default HTTP-01. */
  challenge?: ChallengeType;
  signal?: AbortSignal;
  /** How long validation and issuance may take. */
  timeoutMs?: number;
}

export interface Issued {
  certPem: string;
  keyPem: string;
}

async function client(
  store: Store,
  directoryUrl: string,
  signal?: AbortSignal,
): Promise<{ acme: AcmeClient; account: AccountKey }> {
  const key = keys.acmeAccount(createHash('sha256').update(directoryUrl).digest('hex'));
  const existing = await store.get<AcmeAccountRecord>(key);
  if (existing) {
    const account = accountKey(existing.value.key_pem);
    return {
      acme: new AcmeClient(directoryUrl, account, { accountUrl: existing.value.url, signal }),
      account,
    };
  }
  const keyPem = newPrivateKeyPem();
  const account = accountKey(keyPem);
  const acme = new AcmeClient(directoryUrl, account, { signal });
  const url = await acme.ensureAccount();
  await store.put<AcmeAccountRecord>(key, {
    directory: directoryUrl,
    key_pem: keyPem,
    url,
    created_at: new Date().toISOString(),
  });
  return { acme, account };
}

/** @throws NearbyError ACME_* (each says what the server answered) */
export async function issueWithAcme(options: IssueOptions): Promise<Issued> {
  const { store, hostname } = options;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const type: ChallengeType = hostname.startsWith('*.') ? 'dns-01' : (options.challenge ?? 'http-01');
  const { acme, account } = await client(store, options.directoryUrl, options.signal);
  const { url: orderUrl, order } = await acme.newOrder(hostname);
  const published: string[] = [];
  try {
    for (const authzUrl of order.authorizations) {
      const authz = await acme.get<Authorization>(authzUrl);
      if (authz.status === 'valid') continue;
      const challenge = authz.challenges.find((c) => c.type === type);
      if (challenge === undefined) {
        throw certErrors.orderFailed(hostname, `the ACME server offers no ${type} challenge`);
      }
      const record = await challengeRecord(type, hostname, challenge.token, account);
      await store.put(keys.acmeChallenge(challenge.token), record);
      published.push(challenge.token);
      await acme.post(challenge.url, {});
      const final = await acme.poll<Authorization>(
        authzUrl,
        (value) => value.status !== 'pending',
        timeoutMs,
      );
      if (final === undefined) throw certErrors.acmeTimeout(hostname, 'validation');
      if (final.status !== 'valid') {
        const failed = final.challenges.find((c) => c.type === type);
        throw certErrors.challengeFailed(hostname, describeProblem(failed?.error), type);
      }
    }
    const ready = await acme.poll<Order>(orderUrl, (value) => value.status !== 'pending', timeoutMs);
    if (ready === undefined) throw certErrors.acmeTimeout(hostname, 'the order');
    if (ready.status !== 'ready' && ready.status !== 'valid') {
      throw certErrors.orderFailed(hostname, `order is ${ready.status}: ${describeProblem(ready.error)}`);
    }
    const keyPem = newPrivateKeyPem();
    const csr = await csrDer(keyPem, hostname);
    await acme.post<Order>(ready.finalize, { csr: csr.toString('base64url') });
    const valid = await acme.poll<Order>(
      orderUrl,
      (value) => value.status === 'valid' || value.status === 'invalid',
      timeoutMs,
    );
    if (valid === undefined) throw certErrors.acmeTimeout(hostname, 'issuance');
    if (valid.status !== 'valid' || !valid.certificate) {
      throw certErrors.orderFailed(hostname, `order is ${valid.status}: ${describeProblem(valid.error)}`);
    }
    return { certPem: await acme.downloadCertificate(valid.certificate), keyPem };
  } finally {
    for (const token of published) await store.delete(keys.acmeChallenge(token)).catch(() => {});
  }
}

/** What nearby answers for one challenge: the key authorization, plus the certificate or TXT value. */
async function challengeRecord(
  type: ChallengeType,
  hostname: string,
  token: string,
  account: AccountKey,
): Promise<AcmeChallengeRecord> {
  const key_authorization = keyAuthorization(token, account.jwk);
  const record: AcmeChallengeRecord = {
    token,
    key_authorization,
    hostname,
    created_at: new Date().toISOString(),
    type,
  };
  if (type === 'tls-alpn-01') {
    const { certPem, keyPem } = await tlsAlpnCertificate(hostname, key_authorization);
    return { ...record, cert_pem: certPem, key_pem: keyPem };
  }
  if (type === 'dns-01') {
    return { ...record, dns_name: dnsChallengeName(hostname), txt: dnsTxtValue(key_authorization) };
  }
  return record;
}
