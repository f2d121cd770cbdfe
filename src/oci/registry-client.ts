/**
 * A client of the OCI distribution API over `fetch`: HTTPS by default (plain HTTP only for loopback
 * registries or those listed as insecure), anonymous, Basic or Bearer-token auth, manifests with
 * verified digests, and blob bodies as streams.
 */
import { createHash } from 'node:crypto';
import { basicAuthorization, type CredentialsLookup, fetchBearerToken, parseChallenge } from './auth.ts';
import {
  causeText,
  digestMismatch,
  imageNotFound,
  registryAuthFailed,
  registryError,
  registryInsecure,
  registryUnreachable,
} from './errors.ts';
import { MANIFEST_ACCEPT } from './manifest.ts';
import { isLoopbackRegistry } from './reference.ts';

export interface RegistryClientOptions {
  /** Registries (`host:port`) that may be spoken to over plain HTTP besides loopback ones. */
  insecureRegistries?: string[];
  credentials?: CredentialsLookup;
  /** The fetch to use; tests pass one that counts requests. */
  fetch?: typeof fetch;
}

export interface RegistryRequest {
  method?: string;
  /** A path under the registry (`/v2/…`) or an absolute URL the registry gave (upload locations). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** `pull` or `pull,push`: the scope asked of a token service. */
  actions?: string;
  signal?: AbortSignal;
}

export interface FetchedManifest {
  mediaType: string;
  body: Buffer;
  digest: string;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export class RegistryClient {
  /** Read at each call: a host's agent learns nearby's registry address after it starts. */
  readonly #insecure: readonly string[];
  readonly #credentials: CredentialsLookup;
  readonly #fetch: typeof fetch;
  readonly #bases = new Map<string, Promise<string>>();
  readonly #authorizations = new Map<string, string>();

  constructor(options: RegistryClientOptions = {}) {
    this.#insecure = options.insecureRegistries ?? [];
    this.#credentials = options.credentials ?? (() => undefined);
    this.#fetch = options.fetch ?? fetch;
  }

  /** `https://host` or, for loopback and insecure registries that do not speak TLS, `http://host`. */
  baseUrl(registry: string, signal?: AbortSignal): Promise<string> {
    let base = this.#bases.get(registry);
    if (!base) {
      base = this.#probe(registry, signal);
      this.#bases.set(registry, base);
      base.catch(() => this.#bases.delete(registry));
    }
    return base;
  }

  async #probe(registry: string, signal?: AbortSignal): Promise<string> {
    const https = `https://${registry}`;
    const mayUseHttp = isLoopbackRegistry(registry) || this.#insecure.includes(registry);
    try {
      await this.#fetch(`${https}/v2/`, { signal, redirect: 'manual' }).then((r) => r.body?.cancel());
      return https;
    } catch (error) {
      if (signal?.aborted) throw error;
      if (!mayUseHttp) {
        const text = causeText(error);
        if (/wrong version number|EPROTO|packet length too long/i.test(text))
          throw registryInsecure(registry, error);
        throw registryUnreachable(registry, `${https}/v2/`, error);
      }
    }
    const http = `http://${registry}`;
    try {
      await this.#fetch(`${http}/v2/`, { signal, redirect: 'manual' }).then((r) => r.body?.cancel());
      return http;
    } catch (error) {
      if (signal?.aborted) throw error;
      throw registryUnreachable(registry, `${http}/v2/`, error);
    }
  }

  /** Sends a request, answering a 401 challenge once (Bearer token or Basic credentials). */
  async request(registry: string, repository: string, request: RegistryRequest): Promise<Response> {
    const base = await this.baseUrl(registry, request.signal);
    const url = /^https?:\/\//.test(request.path) ? request.path : `${base}${request.path}`;
    const scope = `repository:${repository}:${request.actions ?? 'pull'}`;
    const cacheKey = `${registry}|${scope}`;
    const send = async (authorization: string | undefined): Promise<Response> => {
      const headers: Record<string, string> = { ...request.headers };
      if (authorization) headers.authorization = authorization;
      try {
        // A Buffer is a valid body; only its ArrayBufferLike generic upsets the BodyInit type.
        const body = request.body as unknown as BodyInit | undefined;
        return await this.#fetch(url, {
          method: request.method ?? 'GET',
          headers,
          body,
          signal: request.signal,
        });
      } catch (error) {
        if (request.signal?.aborted) throw error;
        throw registryUnreachable(registry, url, error);
      }
    };
    let response = await send(this.#authorizations.get(cacheKey));
    if (response.status !== 401) return response;

    await response.body?.cancel();
    const challenge = parseChallenge(response.headers.get('www-authenticate'));
    const credentials = this.#credentials(registry);
    let authorization: string;
    if (challenge?.scheme === 'bearer') {
      authorization = await fetchBearerToken(
        registry,
        challenge,
        scope,
        credentials,
        this.#fetch,
        request.signal,
      );
    } else if (challenge?.scheme === 'basic' && credentials) {
      authorization = basicAuthorization(credentials);
    } else {
      throw registryAuthFailed(
        registry,
        challenge?.scheme === 'basic'
          ? 'it asks for a username and password, and none are configured for it'
          : `it answered 401 with a challenge we cannot answer (${response.headers.get('www-authenticate') ?? 'none'})`,
      );
    }
    response = await send(authorization);
    if (response.status === 401 || response.status === 403) {
      const text = await response.text();
      throw registryAuthFailed(
        registry,
        `${request.method ?? 'GET'} ${url} answered ${response.status} even with a token: ${text.slice(0, 200)}`,
      );
    }
    this.#authorizations.set(cacheKey, authorization);
    return response;
  }

  /** Fetches a manifest (or index) by tag or digest and verifies its digest. */
  async getManifest(
    registry: string,
    repository: string,
    reference: string,
    displayName: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const response = await this.request(registry, repository, {
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      signal,
    });
    if (response.status === 404) {
      await response.body?.cancel();
      throw imageNotFound(displayName);
    }
    const body = Buffer.from(await response.arrayBuffer());
    if (!response.ok) {
      const text = body.toString('utf8');
      if (/MANIFEST_UNKNOWN|NAME_UNKNOWN|NOT_FOUND/.test(text)) throw imageNotFound(displayName);
      throw registryError(registry, `GET manifest ${repository}:${reference}`, response.status, text);
    }
    if (body.length > MAX_MANIFEST_BYTES) {
      throw registryError(
        registry,
        `GET manifest ${repository}:${reference}`,
        response.status,
        'manifest larger than 4 MiB',
      );
    }
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    const expected = reference.startsWith('sha256:')
      ? reference
      : response.headers.get('docker-content-digest');
    if (expected?.startsWith('sha256:') && expected !== digest) {
      throw digestMismatch(`manifest ${repository}@${reference} from ${registry}`, expected, digest);
    }
    let mediaType = response.headers.get('content-type')?.split(';')[0].trim() ?? '';
    try {
      const parsed = JSON.parse(body.toString('utf8')) as { mediaType?: string };
      if (parsed.mediaType) mediaType = parsed.mediaType;
    } catch {
      // Not JSON: parseManifest reports it with the reference in the message.
    }
    return { mediaType, body, digest };
  }

  /** Opens a blob; the caller verifies the digest while streaming the body. */
  async getBlob(
    registry: string,
    repository: string,
    digest: string,
    signal?: AbortSignal,
  ): Promise<Response> {
    const response = await this.request(registry, repository, {
      path: `/v2/${repository}/blobs/${digest}`,
      signal,
    });
    if (!response.ok) {
      const text = await response.text();
      if (response.status === 404) {
        throw imageNotFound(`${registry}/${repository}@${digest}`, 'the registry has no such blob');
      }
      throw registryError(registry, `GET blob ${repository}@${digest}`, response.status, text);
    }
    return response;
  }
}
