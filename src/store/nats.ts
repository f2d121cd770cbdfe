/**
 * The cluster store: NATS JetStream (docs/cluster.md). Keys live in one KV bucket, streams in one
 * JetStream stream, both made on first use with up to three replicas. Calls fail fast with
 * STORE_UNAVAILABLE while no server is reachable; watches and followed reads wait it out and resume.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { isNearbyError } from '../errors.ts';
import { storeConfigInvalid } from './errors.ts';
import { StoreConnection } from './nats/connection.ts';
import { KvKeys } from './nats/kv.ts';
import { Streams } from './nats/streams.ts';
import { type StoreLog, watchKeys } from './nats/watch.ts';
import type {
  Entry,
  PutOptions,
  ReadOptions,
  Store,
  StreamMessage,
  WatchEvent,
  WatchOptions,
} from './types.ts';

export type { StoreLog } from './nats/watch.ts';

export interface NatsStoreOptions {
  /** `nats://host:port` of the cluster's servers (`user:password@` or `token@` when needed). */
  servers: readonly string[];
  /** Names the bucket (`<prefix>_state`) and the stream (`<prefix>_streams`), so stores can share a cluster. */
  prefix?: string;
  /** Replicas of the bucket and the stream, when they are made; default: min(3, servers in the cluster). */
  replicas?: number;
  /** Stream messages kept (logs), oldest dropped first. */
  streamSize?: number;
  /** How long one request waits for an answer, in ms. */
  timeout?: number;
  /** Where watches say that they lost the store and resumed (once per outage). */
  log?: StoreLog;
}

const defaults = { prefix: 'nearby', streamSize: 200_000, timeout: 5000 };

/** Retries a start-up step that timed out or found no JetStream yet, for up to a minute. */
async function whileYoung<T>(step: () => Promise<T>, forMs = 60_000): Promise<T> {
  const deadline = Date.now() + forMs;
  for (;;) {
    try {
      return await step();
    } catch (error) {
      const retry = isNearbyError(error, 'STORE_TIMEOUT') || isNearbyError(error, 'STORE_UNAVAILABLE');
      if (!retry || Date.now() > deadline) throw error;
      await delay(1000);
    }
  }
}

export class NatsStore implements Store {
  readonly #conn: StoreConnection;
  readonly #keys: KvKeys;
  readonly #streams: Streams;
  readonly #log: StoreLog | undefined;

  private constructor(conn: StoreConnection, keys: KvKeys, streams: Streams, log: StoreLog | undefined) {
    this.#conn = conn;
    this.#keys = keys;
    this.#streams = streams;
    this.#log = log;
  }

  /**
   * Connects and makes the bucket and the stream if they are missing.
   * @throws NearbyError STORE_CONFIG_INVALID, STORE_UNAVAILABLE
   * @example const store = await NatsStore.open({ servers: ['nats://10.0.0.1:4222'] });
   */
  static async open(options: NatsStoreOptions): Promise<NatsStore> {
    const prefix = options.prefix ?? defaults.prefix;
    if (!/^[A-Za-z0-9][-_A-Za-z0-9]*$/.test(prefix)) {
      throw storeConfigInvalid(
        `store prefix "${prefix}" is not a valid name`,
        'use letters, digits, - and _',
      );
    }
    const conn = await StoreConnection.open({ servers: options.servers, timeout: options.timeout });
    try {
      // A clustered server lists every member's client URL, its own included; a lone one lists none.
      const clusterSize = Math.max(1, conn.nc.info?.connect_urls?.length ?? 0);
      const replicas = options.replicas ?? Math.min(3, clusterSize);
      const bucket = `${prefix}_state`;
      // Making the bucket and the stream is idempotent, and in a young cluster spread over
      // continents it can outlast one timeout (the meta leader, then the new group's election,
      // each a round trip of up to 270 ms away): retried for a while rather than failing the part.
      const kv = await whileYoung(() =>
        conn.call('create the key bucket', () =>
          new Kvm(conn.js).create(bucket, {
            replicas,
            history: 1,
            allow_direct: false,
            timeout: conn.timeout,
          }),
        ),
      );
      const streamName = `${prefix}_streams`;
      const subjectPrefix = `${prefix}.streams.`;
      await whileYoung(() =>
        conn.call('create the stream', async () => {
          const config = {
            subjects: [`${subjectPrefix}>`],
            retention: RetentionPolicy.Limits,
            discard: DiscardPolicy.Old,
            max_msgs: options.streamSize ?? defaults.streamSize,
            storage: StorageType.File,
            num_replicas: replicas,
          };
          try {
            await conn.jsm.streams.info(streamName);
            await conn.jsm.streams.update(streamName, { max_msgs: config.max_msgs });
          } catch (error) {
            if (!(error instanceof Error) || !/stream not found/i.test(error.message)) throw error;
            await conn.jsm.streams.add({ name: streamName, ...config });
          }
        }),
      );
      const keys = new KvKeys(conn, kv, bucket);
      // The bucket exists once its creation is acknowledged, but its group may still be electing a
      // leader (seconds when its members are a continent apart): the store is open when a read
      // is answered, so a part's first read does not time out.
      await whileYoung(() => keys.get('nearby-open-probe'));
      return new NatsStore(conn, keys, new Streams(conn, streamName, subjectPrefix), options.log);
    } catch (error) {
      await conn.close();
      throw error;
    }
  }

  /** The server this store is connected to now (`host:port`), for operators and tests. */
  get server(): string {
    return this.#conn.nc.getServer();
  }

  get<T>(key: string): Promise<Entry<T> | undefined> {
    return this.#keys.get<T>(key);
  }

  put<T>(key: string, value: T, options?: PutOptions): Promise<number> {
    return this.#keys.put(key, value, options);
  }

  delete(key: string, options?: PutOptions): Promise<boolean> {
    return this.#keys.delete(key, options);
  }

  list<T>(prefix: string): Promise<Entry<T>[]> {
    return this.#keys.list<T>(prefix);
  }

  revision(): Promise<number> {
    return this.#keys.revision();
  }

  watch<T>(prefix: string, options: WatchOptions = {}): AsyncIterable<WatchEvent<T>> {
    return watchKeys<T>(this.#keys, prefix, options, this.#log);
  }

  append(subject: string, data: unknown): Promise<number> {
    return this.#streams.append(subject, data);
  }

  appendAll(subject: string, items: readonly unknown[]): Promise<number> {
    return this.#streams.appendAll(subject, items);
  }

  read<T>(subjectPrefix: string, options?: ReadOptions): AsyncIterable<StreamMessage<T>> {
    return this.#streams.read<T>(subjectPrefix, options);
  }

  async close(): Promise<void> {
    await this.#conn.close();
  }
}
