/**
 * How a host pulls from nearby's registry: with the registry's internal credential when the API
 * runs in the same process, else with an API token (HTTP Basic, the password is the token: the
 * token service trades it for a pull-scoped JWT) at the address the API names (`GET /v1/registry`).
 * The token goes to that registry only, never to Docker Hub or others.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Credentials } from '../oci/mod.ts';

export class RegistryAccess {
  /** Shared with the ImageStore, which reads it at each call: nearby's registry speaks plain HTTP. */
  readonly insecure: string[];
  #host: string | undefined;
  #credentials: Credentials | undefined;

  constructor(insecure: string[]) {
    this.insecure = [...insecure];
  }

  readonly lookup = (registry: string): Credentials | undefined =>
    registry === this.#host ? this.#credentials : undefined;

  use(host: string, credentials: Credentials): void {
    this.#host = host;
    this.#credentials = credentials;
    if (!this.insecure.includes(host)) this.insecure.push(host);
  }

  /**
   * Asks the API where its registry is, until it answers (the agent starts and keeps its machines
   * running without it; only pulls from nearby's registry wait for it).
   */
  async discover(apiUrl: string, token: string, log: Logger, signal: AbortSignal): Promise<void> {
    let warned = false;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        const response = await fetch(`${apiUrl}/v1/registry`, {
          headers: { authorization: `Bearer ${token}` },
          signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
        });
        if (response.status === 404) {
          await response.body?.cancel();
          log.info({ api: apiUrl }, 'the API runs no registry: images come from other registries only');
          return;
        }
        if (!response.ok) throw new Error(`${apiUrl}/v1/registry answered ${response.status}`);
        const { host } = (await response.json()) as { host: string };
        this.use(host, { username: 'nearby-host', password: token });
        log.info({ registry: host, api: apiUrl }, `pulling from nearby's registry at ${host}`);
        return;
      } catch (error) {
        if (signal.aborted) return;
        if (!warned)
          log.warn(
            { api: apiUrl, err: error },
            `cannot ask the API at ${apiUrl} where its registry is (retrying; check --api-url and --token-file)`,
          );
        warned = true;
        await delay(Math.min(30_000, 500 * 2 ** attempt), undefined, { signal }).catch(() => {});
      }
    }
  }
}
