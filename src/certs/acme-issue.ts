/**
 * One certificate from an ACME server: the account (kept in the store per directory URL), an
 * order, HTTP-01 answers published in the store for every proxy to serve, finalize with a CSR,
 * and the chain.
 */
import { createHash } from 'node:crypto';
import { keys } from '../model/keys.ts';
import type { Store } from '../store/types.ts';
import { AcmeClient, type Authorization, describeProblem, type Order } from './acme-client.ts';
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

/** `acme-challenges/<token>`: what `/.well-known/acme-challenge/<token>` answers. */
export interface AcmeChallengeRecord {
  token: string;
  key_authorization: string;
  hostname: string;
  created_at: string;
}

export interface IssueOptions {
  store: Store;
  directoryUrl: string;
  hostname: string;
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
  const { acme, account } = await client(store, options.directoryUrl, options.signal);
  const { url: orderUrl, order } = await acme.newOrder(hostname);
  const published: string[] = [];
  try {
    for (const authzUrl of order.authorizations) {
      const authz = await acme.get<Authorization>(authzUrl);
      if (authz.status === 'valid') continue;
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (challenge === undefined) {
        throw certErrors.orderFailed(hostname, 'the ACME server offers no http-01 challenge');
      }
      const record: AcmeChallengeRecord = {
        token: challenge.token,
        key_authorization: keyAuthorization(challenge.token, account.jwk),
        hostname,
        created_at: new Date().toISOString(),
      };
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
        const failed = final.challenges.find((c) => c.type === 'http-01');
        throw certErrors.challengeFailed(hostname, describeProblem(failed?.error));
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
