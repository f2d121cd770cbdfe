/**
 * The store's keys in one JetStream KV bucket. One bucket, because a revision is the bucket's stream
 * sequence: keys compared by revision, and the store-wide order watches rely on, need one stream.
 * Compare-and-set is checked per key, with a message id for writes in flight (see `#compareAndSet`).
 */
import { type ConsumerInfo, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import { headers } from '@nats-io/transport-node';
import { isNearbyError } from '../../errors.ts';
import { storeConflict } from '../errors.ts';
import type { Entry, PutOptions } from '../types.ts';
import type { StoreConnection } from './connection.ts';
import { consumeStream } from './consume.ts';
import { decodeKey, encodeKey, prefixFilter } from './key-codec.ts';

/** Lists of up to this many keys are read message by message (`#fewKeys`), longer ones by a consumer. */
const FEW_KEYS = 256;
const FEW_KEYS_AT_ONCE = 64;

export class KvKeys {
  readonly conn: StoreConnection;
  readonly kv: KV;
  /** The bucket's stream, `KV_<bucket>`, and its subject prefix, `$KV.<bucket>.`. */
  readonly stream: string;
  readonly subjectPrefix: string;

  constructor(conn: StoreConnection, kv: KV, bucket: string) {
    this.conn = conn;
    this.kv = kv;
    this.stream = `KV_${bucket}`;
    this.subjectPrefix = `$KV.${bucket}.`;
  }

  async get<T>(key: string): Promise<Entry<T> | undefined> {
    const entry = await this.#read(key);
    return entry && { key, value: entry.json<T>(), revision: entry.revision };
  }

  async put<T>(key: string, value: T, options: PutOptions = {}): Promise<number> {
    const json = JSON.stringify(value);
    if (options.expectRevision === undefined) {
      return this.conn.call(`put ${key}`, () => this.kv.put(encodeKey(key), json), 'write');
    }
    return this.#compareAndSet(key, options.expectRevision, json);
  }

  async delete(key: string, options: PutOptions = {}): Promise<boolean> {
    for (;;) {
      const current = await this.#readRaw(key);
      const actual = current && !isDeleteMarker(current.operation) ? current.revision : 0;
      if (options.expectRevision !== undefined && options.expectRevision !== actual) {
        throw storeConflict(key, options.expectRevision, actual);
      }
      if (actual === 0) return false;
      try {
        // Conditional even without `expectRevision`: `false` must mean "it was not there".
        await this.#compareAndSet(key, actual, undefined, current);
        return true;
      } catch (error) {
        if (options.expectRevision !== undefined || !isNearbyError(error, 'STORE_CONFLICT')) throw error;
      }
    }
  }

  /**
   * Writes `json` (or a delete marker) if the key is at revision `expected` (0: absent).
   *
   * The per-key check (`Nats-Expected-Last-Subject-Sequence`) alone is not enough: on a
   * clustered stream nats-server before 2.9.21 checks it against what the leader has applied,
   * before the write is replicated, so concurrent writers with the same revision all win
   * (nats-io/nats-server#4320; 29 rounds in 30 here on 2.9.10). The leader does see writes in
   * flight in its duplicate table, which it fills before it proposes a write: so each write also
   * carries a message id naming the key and the revision it replaces, and of writers racing from
   * one revision the first is written and the others are told theirs is a duplicate — a conflict.
   * Ids are kept for the bucket's duplicate window (2 minutes); a revision is a stream sequence,
   * never reused, and a key that was deleted is replaced from its delete marker's sequence, so
   * an id never stands for two different replacements.
   *
   * Not the stream-wide check (`Nats-Expected-Last-Sequence`), which this used before: it fails
   * on a write to *any* key meanwhile, and with the leader a continent away and a few unconditional
   * writes a second (heartbeats, demand) a compare-and-set took tens of seconds of retries
   * (docs/perf.md, "Compare-and-set across continents"). `read`: the key's last message when the
   * caller has just read it (one round trip to the leader fewer).
   */
  async #compareAndSet(
    key: string,
    expected: number,
    json: string | undefined,
    read?: KvEntry | null,
  ): Promise<number> {
    const current = read !== undefined ? read : await this.#readRaw(key);
    const actual = current && !isDeleteMarker(current.operation) ? current.revision : 0;
    if (actual !== expected) throw storeConflict(key, expected, actual);
    const replaces = current?.revision ?? 0;
    const marker = headers();
    if (json === undefined) marker.set('KV-Operation', 'DEL');
    const ack = await this.conn
      .call(
        `${json === undefined ? 'delete' : 'put'} ${key}`,
        () =>
          this.conn.js.publish(this.subjectPrefix + encodeKey(key), json ?? '', {
            headers: marker,
            msgID: `${encodeKey(key)}@${replaces}`,
            expect: { lastSubjectSequence: replaces },
          }),
        'write',
      )
      .catch(async (error: unknown) => {
        if (!isConflict(error instanceof Error ? error.cause : undefined)) throw error;
        throw storeConflict(key, expected, (await this.#read(key))?.revision ?? 0);
      });
    if (ack.duplicate) throw storeConflict(key, expected, undefined);
    return ack.seq;
  }

  /**
   * Every live key under `prefix`, sorted: the last message of each key, read until caught up. A
   * key written or deleted while the read runs comes again as a newer message: the newest wins.
   */
  async list<T>(prefix: string): Promise<Entry<T>[]> {
    const { filter, match } = prefixFilter(prefix, '/');
    const few = await this.#fewKeys<T>(filter, match);
    if (few) return few;
    const entries = new Map<string, Entry<T>>();
    const messages = consumeStream(
      this.conn,
      this.stream,
      this.subjectPrefix + filter,
      { lastPerSubject: true },
      { follow: false, current: this.onLeader() },
    );
    for await (const message of messages) {
      if (message === 'caught-up') continue;
      const key = decodeKey(message.subject.slice(this.subjectPrefix.length));
      if (!match(key)) continue;
      if (isDeleteMarker(message.headers?.get('KV-Operation'))) entries.delete(key);
      else entries.set(key, { key, value: message.json<T>(), revision: message.seq });
    }
    return [...entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * A short list in two round trips to the stream leader: the subjects under the filter now, then
   * each one's last message, asked at once. The consumer's way needs about three tries to land on
   * the leader, each a round trip or more: 1–3 s against a leader 94 ms away in the world, where
   * this takes two round trips. Both requests are answered by the leader, so every write
   * acknowledged before the list is in it. `undefined` when there are too many keys for it.
   */
  async #fewKeys<T>(filter: string, match: (key: string) => boolean): Promise<Entry<T>[] | undefined> {
    const subject = this.subjectPrefix + filter;
    const info = await this.conn.call(`list ${filter}`, () =>
      this.conn.jsm.streams.info(this.stream, { subjects_filter: subject }),
    );
    const subjects = Object.keys(info.state.subjects ?? {});
    if (subjects.length > FEW_KEYS) return undefined;
    const entries: Entry<T>[] = [];
    for (let start = 0; start < subjects.length; start += FEW_KEYS_AT_ONCE) {
      const batch = subjects.slice(start, start + FEW_KEYS_AT_ONCE).map((name) =>
        this.conn
          .call(`list ${filter}`, () => this.conn.jsm.streams.getMessage(this.stream, { last_by_subj: name }))
          .catch((error) => {
            // Deleted with its history since the subjects were listed: gone, like a purge.
            if (error instanceof Error && /no message found/i.test(`${error.message} ${error.cause}`))
              return null;
            throw error;
          }),
      );
      for (const message of await Promise.all(batch)) {
        if (!message || isDeleteMarker(message.header?.get('KV-Operation'))) continue;
        const key = decodeKey(message.subject.slice(this.subjectPrefix.length));
        if (match(key)) entries.push({ key, value: message.json<T>(), revision: message.seq });
      }
    }
    return entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Whether a consumer reads the stream leader's replica, the one that has every acknowledged write.
   * A follower may lack the last ones even when the leader counts it current with no lag (it
   * stores an entry before it applies it), and a node restarted after a kill lacks every write
   * made while it was down: a list read there answers with the past (an acknowledged write
   * seemingly lost). An ordered consumer lands on any replica: the read makes it again until it is
   * on the leader (about three tries on three replicas). The leader is asked once per read, while
   * the first consumer is made, and again after every third miss (it may have changed): each ask
   * is a round trip to the leader, a continent away in the world.
   */
  onLeader(): (consumer: ConsumerInfo) => Promise<boolean> {
    const askLeader = () =>
      this.conn
        .call('stream info', () => this.conn.jsm.streams.info(this.stream))
        // No cluster: one server, every read is on it. A cluster without a leader: none is safe yet.
        .then((info) => (info.cluster === undefined ? 'alone' : (info.cluster.leader ?? 'electing')));
    let leader = askLeader();
    leader.catch(() => {});
    let misses = 0;
    return async (consumer) => {
      const server = consumer.cluster?.leader;
      if (server === undefined) return true;
      const current = await leader;
      if (current === 'alone' || current === server) return true;
      if (++misses % 3 === 0) leader = askLeader();
      leader.catch(() => {});
      return false;
    };
  }

  /** The bucket's last sequence: every write so far has a revision at or below it. */
  async revision(): Promise<number> {
    const info = await this.conn.call('revision', () => this.conn.jsm.streams.info(this.stream));
    return info.state.last_seq;
  }

  /** The key's live entry (a delete marker counts as absent). */
  async #read(key: string): Promise<KvEntry | undefined> {
    const entry = await this.#readRaw(key);
    return entry && !isDeleteMarker(entry.operation) ? entry : undefined;
  }

  /** The key's last message, a delete marker included. */
  #readRaw(key: string): Promise<KvEntry | null> {
    return this.conn.call(`get ${key}`, () => this.kv.get(encodeKey(key)));
  }
}

function isConflict(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

export function isDeleteMarker(operation: string | undefined): boolean {
  return operation === 'DEL' || operation === 'PURGE';
}
