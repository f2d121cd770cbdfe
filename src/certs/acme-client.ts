/**
 * A small ACME (RFC 8555) client: directory, nonces (a `badNonce` is retried with the fresh one),
 * account, orders, authorizations, challenges, finalize and the certificate download.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { certErrors } from './errors.ts';
import { type AccountKey, signJws } from './jws.ts';

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  meta?: { termsOfService?: string };
}

export interface Order {
  status: 'pending' | 'ready' | 'processing' | 'valid' | 'invalid';
  identifiers: { type: string; value: string }[];
  authorizations: string[];
  finalize: string;
  certificate?: string;
  error?: Problem;
}

export interface Challenge {
  type: string;
  url: string;
  token: string;
  status: 'pending' | 'processing' | 'valid' | 'invalid';
  error?: Problem;
}

export interface Authorization {
  status: 'pending' | 'valid' | 'invalid' | 'deactivated' | 'expired' | 'revoked';
  identifier: { type: string; value: string };
  challenges: Challenge[];
}

export interface Problem {
  type?: string;
  detail?: string;
  subproblems?: Problem[];
}

export interface AcmeResponse<T> {
  body: T;
  location?: string;
  status: number;
  text: string;
}

const BAD_NONCE = 'urn:ietf:params:acme:error:badNonce';
const NONCE_RETRIES = 5;

export function describeProblem(problem: Problem | undefined): string {
  if (problem === undefined) return 'no details given';
  const sub = (problem.subproblems ?? []).map((p) => p.detail).filter(Boolean);
  return [problem.detail ?? problem.type ?? 'unknown problem', ...sub].join('; ');
}

export class AcmeClient {
  readonly directoryUrl: string;
  #account: AccountKey;
  #directory: Directory | undefined;
  #nonces: string[] = [];
  /** The account URL (`kid`) once `ensureAccount` ran. */
  accountUrl: string | undefined;
  #signal: AbortSignal | undefined;

  constructor(
    directoryUrl: string,
    account: AccountKey,
    options: { accountUrl?: string; signal?: AbortSignal } = {},
  ) {
    this.directoryUrl = directoryUrl;
    this.#account = account;
    this.accountUrl = options.accountUrl;
    this.#signal = options.signal;
  }

  async #fetch(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: this.#signal });
    } catch (error) {
      if (this.#signal?.aborted) throw error;
      throw certErrors.acmeUnreachable(url, error);
    }
  }

  async directory(): Promise<Directory> {
    if (this.#directory) return this.#directory;
    const response = await this.#fetch(this.directoryUrl, {});
    const text = await response.text();
    if (!response.ok)
      throw certErrors.acmeRequestFailed(this.directoryUrl, response.status, text.slice(0, 200));
    this.#directory = JSON.parse(text) as Directory;
    return this.#directory;
  }

  async #nonce(): Promise<string> {
    const cached = this.#nonces.pop();
    if (cached) return cached;
    const url = (await this.directory()).newNonce;
    const response = await this.#fetch(url, { method: 'HEAD' });
    const nonce = response.headers.get('replay-nonce');
    if (!nonce) throw certErrors.acmeRequestFailed(url, response.status, 'no Replay-Nonce header');
    return nonce;
  }

  /** A signed POST; `payload` undefined is POST-as-GET. */
  async post<T>(
    url: string,
    payload: unknown,
    options: { useJwk?: boolean; raw?: boolean } = {},
  ): Promise<AcmeResponse<T>> {
    for (let attempt = 0; ; attempt++) {
      const nonce = await this.#nonce();
      const kid = options.useJwk ? undefined : this.accountUrl;
      const response = await this.#fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/jose+json' },
        body: signJws(this.#account, { url, nonce, kid }, payload),
      });
      const fresh = response.headers.get('replay-nonce');
      if (fresh) this.#nonces.push(fresh);
      const text = await response.text();
      if (response.ok) {
        const body = (options.raw || text === '' ? undefined : JSON.parse(text)) as T;
        return {
          body,
          status: response.status,
          text,
          location: response.headers.get('location') ?? undefined,
        };
      }
      const problem = safeJson<Problem>(text);
      if (problem?.type === BAD_NONCE && attempt < NONCE_RETRIES) continue;
      throw certErrors.acmeRequestFailed(
        url,
        response.status,
        problem ? describeProblem(problem) : text.slice(0, 200),
      );
    }
  }

  /** Finds or creates the account for this key (terms of service agreed). Returns its URL. */
  async ensureAccount(contact: string[] = []): Promise<string> {
    const url = (await this.directory()).newAccount;
    const response = await this.post<{ status: string }>(
      url,
      { termsOfServiceAgreed: true, ...(contact.length ? { contact } : {}) },
      { useJwk: true },
    );
    if (!response.location)
      throw certErrors.acmeRequestFailed(url, response.status, 'no account URL (Location)');
    this.accountUrl = response.location;
    return response.location;
  }

  async newOrder(hostname: string): Promise<{ url: string; order: Order }> {
    const url = (await this.directory()).newOrder;
    const response = await this.post<Order>(url, { identifiers: [{ type: 'dns', value: hostname }] });
    if (!response.location)
      throw certErrors.acmeRequestFailed(url, response.status, 'no order URL (Location)');
    return { url: response.location, order: response.body };
  }

  async get<T>(url: string): Promise<T> {
    return (await this.post<T>(url, undefined)).body;
  }

  /** Polls `url` until `done` says so, for at most `timeoutMs`. */
  async poll<T>(url: string, done: (value: T) => boolean, timeoutMs: number): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    let delay = 250;
    for (;;) {
      const value = await this.get<T>(url);
      if (done(value)) return value;
      if (Date.now() > deadline) return undefined;
      await sleep(delay, undefined, { signal: this.#signal });
      delay = Math.min(delay * 2, 3000);
    }
  }

  async downloadCertificate(url: string): Promise<string> {
    return (await this.post<string>(url, undefined, { raw: true })).text;
  }
}

function safeJson<T>(text: string): T | undefined {
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
