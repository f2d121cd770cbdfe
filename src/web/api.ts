/**
 * The dashboard's API client: the same public `/v1/` API the CLI uses, with the token the user
 * logged in with (kept in sessionStorage: gone when the tab closes) as `Authorization: Bearer`.
 */

import type { ApiCalls } from '../cli/client.ts';

const TOKEN_KEY = 'nearby.token';

/** An error the API answered, in its shape: `{error, code, hint}`. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint?: string;
  constructor(status: number, body: { error?: string; code?: string; hint?: string } | undefined) {
    super(body?.error ?? `the API answered ${status}`);
    this.status = status;
    this.code = body?.code ?? 'HTTP_ERROR';
    this.hint = body?.hint;
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY) ?? undefined,
  save: (token: string) => sessionStorage.setItem(TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Called when the API refuses the token (revoked, expired): the app goes back to the login page. */
let onUnauthorized = () => {};
export function whenUnauthorized(callback: () => void): void {
  onUnauthorized = callback;
}

export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string; signal?: AbortSignal } = {},
): Promise<T> {
  const response = await send(method, path, body, options);
  const text = await response.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw new ApiError(response.status, data);
  return data as T;
}

/** The raw response (for streams); an error answer is thrown like `call`'s. */
export async function send(
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  const token = options.token ?? session.token();
  const headers: Record<string, string> = { authorization: `Bearer ${token ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: options.signal,
  });
  if (response.status === 401 && options.token === undefined) onUnauthorized();
  if (!response.ok && path.endsWith('/live')) throw new ApiError(response.status, await response.json());
  return response;
}

export const app = (name: string) => `/v1/apps/${encodeURIComponent(name)}`;
export const machine = (appName: string, id: string) => `${app(appName)}/machines/${encodeURIComponent(id)}`;
export const org = (slug: string) => `/v1/orgs/${encodeURIComponent(slug)}`;

/** The CLI's client shape (`ApiCalls`), for the CLI's own steps (scale, rollback) run by the page. */
export const apiCalls: ApiCalls = {
  request: <T>(method: string, path: string, body?: unknown, signal?: AbortSignal) =>
    call<T>(method, path, body, { signal }),
  async *lines<T>(path: string, signal?: AbortSignal): AsyncIterable<T> {
    const response = await send('GET', path, undefined, { signal });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => undefined));
    for await (const line of pieces(response.body!, '\n')) if (line) yield JSON.parse(line) as T;
  },
};

/** A response body split at `separator` (NDJSON lines, server-sent event blocks), as text. */
export async function* pieces(body: ReadableStream<Uint8Array>, separator: string): AsyncIterable<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffered += decoder.decode(value, { stream: true });
    let end = buffered.indexOf(separator);
    while (end >= 0) {
      yield buffered.slice(0, end);
      buffered = buffered.slice(end + separator.length);
      end = buffered.indexOf(separator);
    }
  }
}
