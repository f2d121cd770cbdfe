/**
 * The CLI's API client. Finds the API and its token the way users expect: flags, then
 * `NEARBY_API_URL` / `NEARBY_API_TOKEN`, then the admin token in the local data dir.
 */
import { readFileSync } from 'node:fs';
import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NearbyError } from '../errors.ts';

export const DEFAULT_API_URL = 'http://127.0.0.1:4280';

export function defaultDataDir(): string {
  return process.env.NEARBY_DATA_DIR || join(homedir(), '.nearby');
}

/**
 * What a deploy, a scale or a rollback needs of a client: its JSON calls and NDJSON streams. The web
 * dashboard passes its own, so it runs the CLI's steps through the same public API.
 */
export type ApiCalls = Pick<ApiClient, 'request' | 'lines'>;

export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;

  constructor(baseUrl = process.env.NEARBY_API_URL || DEFAULT_API_URL, token = process.env.NEARBY_API_TOKEN) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = token || readAdminToken();
  }

  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.#fetch(method, path, body, signal);
    const text = await response.text();
    const data = text ? JSON.parse(text) : undefined;
    if (!response.ok) throw apiError(response.status, data);
    return data as T;
  }

  /** Streams an NDJSON response line by line. */
  async *lines<T>(path: string, signal?: AbortSignal): AsyncIterable<T> {
    const response = await this.#fetch('GET', path, undefined, signal);
    if (!response.ok) throw apiError(response.status, await response.json().catch(() => undefined));
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of response.body ?? []) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line) yield JSON.parse(line) as T;
        newline = buffered.indexOf('\n');
      }
    }
  }

  /**
   * Opens a full-duplex exchange (the console): the request body stays open for writing while the
   * response is read. Resolves once the API accepted it (200); an error answer is thrown as usual.
   */
  duplex(path: string, contentType: string): Promise<{ request: ClientRequest; response: IncomingMessage }> {
    const token = this.#requireToken();
    const url = new URL(`${this.baseUrl}${path}`);
    return new Promise((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': contentType,
          'transfer-encoding': 'chunked',
        },
      });
      request.on('error', (error) =>
        reject(
          new NearbyError('API_UNREACHABLE', `cannot reach the nearby API at ${this.baseUrl}`, {
            cause: error,
            hint: 'start it with `npm run up` (or `bin/nearby server`), or set NEARBY_API_URL',
          }),
        ),
      );
      request.on('response', (response) => {
        if (response.statusCode === 200) return resolve({ request, response });
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => {
          request.destroy();
          let data: { error?: string; code?: string; hint?: string } | undefined;
          try {
            data = JSON.parse(text);
          } catch {}
          reject(apiError(response.statusCode ?? 500, data));
        });
      });
      request.flushHeaders();
    });
  }

  #requireToken(): string {
    if (!this.#token) {
      throw new NearbyError('NO_TOKEN', 'no API token found', {
        hint: `set NEARBY_API_TOKEN, or run on the server host where ${join(defaultDataDir(), 'admin-token')} exists`,
      });
    }
    return this.#token;
  }

  async #fetch(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    const token = this.#requireToken();
    try {
      return await fetch(`${this.baseUrl}${path}`, {
        method,
        signal,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new NearbyError('API_UNREACHABLE', `cannot reach the nearby API at ${this.baseUrl}`, {
        cause: error,
        hint: 'start it with `npm run up` (or `bin/nearby server`), or set NEARBY_API_URL',
      });
    }
  }
}

function readAdminToken(): string | undefined {
  try {
    return readFileSync(join(defaultDataDir(), 'admin-token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

function apiError(
  status: number,
  data: { error?: string; code?: string; hint?: string } | undefined,
): NearbyError {
  return new NearbyError(data?.code ?? `HTTP_${status}`, data?.error ?? `the API answered ${status}`, {
    status,
    hint: data?.hint,
  });
}
