/**
 * Registry authentication: parses `WWW-Authenticate` challenges and fetches Bearer tokens from the
 * realm they name (the Docker Hub / GHCR / distribution token flow), with optional Basic credentials.
 */
import { registryAuthFailed, registryUnreachable } from './errors.ts';

export interface Credentials {
  username: string;
  password: string;
}

/** Credentials for a registry host (`ghcr.io`, `127.0.0.1:5000`), or undefined for anonymous access. */
export type CredentialsLookup = (registry: string) => Credentials | undefined;

export interface Challenge {
  /** Lowercase scheme: `bearer` or `basic`. */
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (the first challenge when several are given). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const paramPattern = /([A-Za-z_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (const param of match[2].matchAll(paramPattern)) {
    params[param[1].toLowerCase()] = param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3];
  }
  return { scheme: match[1].toLowerCase(), params };
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

/** Asks the challenge's realm for a token good for `scope`; returns the `Authorization` header value. */
export async function fetchBearerToken(
  registry: string,
  challenge: Challenge,
  scope: string,
  credentials: Credentials | undefined,
  fetchImpl: typeof fetch,
  signal?: AbortSignal,
): Promise<string> {
  const realm = challenge.params.realm;
  if (!realm) throw registryAuthFailed(registry, 'its Bearer challenge names no realm to ask for a token');
  let url: URL;
  try {
    url = new URL(realm);
  } catch (error) {
    throw registryAuthFailed(registry, `its token realm "${realm}" is not a URL`, error);
  }
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  url.searchParams.append('scope', scope);
  const headers: Record<string, string> = {};
  if (credentials) headers.authorization = basicAuthorization(credentials);
  let response: Response;
  try {
    response = await fetchImpl(url, { headers, signal });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw registryUnreachable(registry, `token service ${url.origin}${url.pathname}`, error);
  }
  const text = await response.text();
  if (!response.ok) {
    throw registryAuthFailed(
      registry,
      `its token service answered ${response.status} for scope ${scope}${credentials ? ` as user ${credentials.username}` : ' (anonymous)'}: ${text.slice(0, 200)}`,
    );
  }
  let body: { token?: string; access_token?: string };
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw registryAuthFailed(registry, 'its token service answered with something that is not JSON', error);
  }
  const token = body.token ?? body.access_token;
  if (!token) throw registryAuthFailed(registry, 'its token service answered without a token');
  return `Bearer ${token}`;
}
