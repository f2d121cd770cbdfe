/**
 * The store's one NATS connection: parses `nats://` URLs (credentials in the URL), reconnects
 * forever with jittered backoff, knows whether it is connected right now, and turns the client's
 * errors into the store's codes (STORE_UNAVAILABLE, STORE_TIMEOUT, STORE_FAILED).
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import {
  ClosedConnectionError,
  ConnectionError,
  connect,
  type NatsConnection,
  type NodeConnectionOptions,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { isNearbyError, type NearbyError } from '../../errors.ts';
import { storeConfigInvalid, storeFailed, storeTimeout, storeUnavailable } from '../errors.ts';

export interface NatsConnectionOptions {
  /** `nats://host:port` (or `tls://`), with `user:password@` or `token@` when the server wants it. */
  servers: readonly string[];
  /** How long one request waits for an answer, in ms. */
  timeout?: number;
  /** Shown in the server's connection list (`nats-server` monitoring). */
  name?: string;
}

export class StoreConnection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The URLs without credentials, for messages. */
  readonly servers: readonly string[];
  readonly timeout: number;
  #connected = true;
  /** Settles when the connection drops: requests in flight then fail at once instead of timing out. */
  #lost = Promise.withResolvers<never>();

  private constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    servers: readonly string[],
    timeout: number,
  ) {
    this.nc = nc;
    this.jsm = jsm;
    this.js = jetstream(nc, { timeout });
    this.servers = servers;
    this.timeout = timeout;
    this.#lost.promise.catch(() => {});
    void this.#track();
  }

  /** @throws NearbyError STORE_CONFIG_INVALID for a bad URL, STORE_UNAVAILABLE when no server answers. */
  static async open(options: NatsConnectionOptions): Promise<StoreConnection> {
    const parsed = parseServers(options.servers);
    const timeout = options.timeout ?? 5000;
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...parsed.options,
        name: options.name ?? 'nearby',
        timeout,
        // Every long-lived part outlives a store outage (DESIGN.md §2): never stop reconnecting.
        maxReconnectAttempts: -1,
        // The servers are tried in the order given, nearest first: a host that picked a node across
        // the planet at random paid its RTT on every store call (docs/cluster.md).
        noRandomize: true,
        reconnectTimeWait: 250,
        reconnectJitter: 250,
        pingInterval: 5000,
        maxPingOut: 2,
      });
    } catch (error) {
      throw storeUnavailable(parsed.shown, error);
    }
    try {
      const jsm = await jetstreamManager(nc, { timeout });
      return new StoreConnection(nc, jsm, parsed.shown, timeout);
    } catch (error) {
      await nc.close();
      throw storeUnavailable(parsed.shown, error);
    }
  }

  /** Fails fast while disconnected: a request would only sit in the client's buffer until it times out. */
  ensureConnected(): void {
    if (!this.#connected || this.nc.isClosed()) throw storeUnavailable(this.servers);
  }

  get connected(): boolean {
    return this.#connected && !this.nc.isClosed();
  }

  /**
   * Runs one request, mapping the client's failures to the store's errors. If the connection
   * drops meanwhile, a read fails with STORE_UNAVAILABLE and a write with STORE_TIMEOUT (it may
   * have landed).
   */
  async call<T>(what: string, request: () => Promise<T>, kind: 'read' | 'write' = 'read'): Promise<T> {
    this.ensureConnected();
    const lost = this.#lost.promise.catch(() => {
      throw kind === 'read'
        ? storeUnavailable(this.servers)
        : storeTimeout(`${what} (the connection dropped)`, this.timeout);
    });
    try {
      return await Promise.race([request(), lost]);
    } catch (error) {
      throw this.storeError(what, error);
    }
  }

  storeError(what: string, error: unknown): NearbyError {
    return storeErrorOf(what, error, this.servers, this.timeout);
  }

  async #track(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.#connected = false;
        this.#lost.reject(new Error('disconnected'));
        this.#lost = Promise.withResolvers<never>();
        this.#lost.promise.catch(() => {});
      }
      if (status.type === 'reconnect') this.#connected = true;
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

/** Splits credentials out of the URLs (the client takes them as options) and checks each URL. */
function parseServers(servers: readonly string[]): { options: NodeConnectionOptions; shown: string[] } {
  if (servers.length === 0) {
    throw storeConfigInvalid('no NATS server given', 'pass at least one URL such as nats://127.0.0.1:4222');
  }
  const options: NodeConnectionOptions = {};
  const shown: string[] = [];
  for (const server of servers) {
    let url: URL;
    try {
      url = new URL(server);
    } catch {
      throw storeConfigInvalid(`${server} is not a URL`, 'write it as nats://host:4222');
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') {
      throw storeConfigInvalid(
        `${server}: unknown scheme ${url.protocol}`,
        'use nats://host:port or tls://host:port',
      );
    }
    if (url.protocol === 'tls:') options.tls = {};
    if (url.username && url.password) {
      options.user = decodeURIComponent(url.username);
      options.pass = decodeURIComponent(url.password);
    } else if (url.username) {
      options.token = decodeURIComponent(url.username);
    }
    const bare = `${url.protocol === 'tls:' ? 'tls' : 'nats'}://${url.host}`;
    shown.push(bare);
  }
  options.servers = shown;
  return { options, shown };
}

/** A NATS client's failure as the store's error (exported for its test). */
export function storeErrorOf(
  what: string,
  error: unknown,
  servers: readonly string[],
  timeoutMs: number,
): NearbyError {
  if (isNearbyError(error)) return error;
  if (error instanceof TimeoutError) return storeTimeout(what, timeoutMs, error);
  if (
    error instanceof NoRespondersError ||
    error instanceof ClosedConnectionError ||
    error instanceof ConnectionError ||
    (error instanceof RequestError && (error.isNoResponders() || error.cause instanceof TimeoutError))
  ) {
    return error instanceof RequestError && error.cause instanceof TimeoutError
      ? storeTimeout(what, timeoutMs, error)
      : storeUnavailable(servers, error);
  }
  // JetStream's 503 (err_code 10008): no meta leader or stream group to take it yet, as in a
  // cluster just started or electing. Nothing was applied; it passes like an unreachable server.
  if (error instanceof Error && /JetStream system temporarily unavailable/i.test(error.message)) {
    return storeUnavailable(servers, error);
  }
  return storeFailed(what, error);
}
