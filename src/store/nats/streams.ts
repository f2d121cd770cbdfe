/**
 * The store's streams (logs, events) on one JetStream stream: a store subject such as
 * `logs.<app>.<region>.<machine>` is published as `<prefix>.streams.<subject>`, tokens encoded.
 * The stream keeps its last `streamSize` messages (oldest dropped first), like the SQLite one.
 */
import { AckPolicy, DeliverPolicy, type PubAck } from '@nats-io/jetstream';
import type { ReadOptions, StreamMessage } from '../types.ts';
import type { StoreConnection } from './connection.ts';
import { consumeStream } from './consume.ts';
import { decodeSubject, encodeSubject, prefixFilter } from './key-codec.ts';

/** Publishes in flight at once for `appendAll`: acks keep the order, the window keeps memory bounded. */
const PUBLISH_WINDOW = 500;

export class Streams {
  readonly conn: StoreConnection;
  readonly stream: string;
  /** `<prefix>.streams.`: what every subject of the stream starts with. */
  readonly subjectPrefix: string;

  constructor(conn: StoreConnection, stream: string, subjectPrefix: string) {
    this.conn = conn;
    this.stream = stream;
    this.subjectPrefix = subjectPrefix;
  }

  async append(subject: string, data: unknown): Promise<number> {
    return this.appendAll(subject, [data]);
  }

  /**
   * JetStream 2.9 has no atomic batch: the messages are published back to back on the one
   * connection (so in order) and their acks awaited together. Returns the last sequence.
   */
  async appendAll(subject: string, items: readonly unknown[]): Promise<number> {
    if (items.length === 0) return 0;
    const natsSubject = this.subjectPrefix + encodeSubject(subject);
    let last = 0;
    for (let from = 0; from < items.length; from += PUBLISH_WINDOW) {
      const batch = items.slice(from, from + PUBLISH_WINDOW);
      const acks: PubAck[] = await this.conn.call(
        `append to ${subject}`,
        () => Promise.all(batch.map((data) => this.conn.js.publish(natsSubject, JSON.stringify(data)))),
        'write',
      );
      for (const ack of acks) last = Math.max(last, ack.seq);
    }
    return last;
  }

  async *read<T>(subjectPrefix: string, options: ReadOptions = {}): AsyncGenerator<StreamMessage<T>> {
    const { filter, match } = prefixFilter(subjectPrefix, '.');
    const natsFilter = this.subjectPrefix + filter;
    let afterSeq = options.afterSeq;
    let skip = 0;
    if (afterSeq === undefined) ({ afterSeq, skip } = await this.#tailStart(natsFilter, options.tail ?? 100));
    const messages = consumeStream(
      this.conn,
      this.stream,
      natsFilter,
      { afterSeq },
      {
        follow: options.follow === true,
        signal: options.signal,
      },
    );
    for await (const message of messages) {
      if (message === 'caught-up') continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      const subject = decodeSubject(message.subject.slice(this.subjectPrefix.length));
      if (!match(subject)) continue;
      const time = Math.round(Number(message.info.timestampNanos) / 1e6);
      yield { seq: message.seq, subject, time, data: message.json<T>() };
    }
  }

  /**
   * Where the last `tail` messages matching `filter` begin. JetStream cannot count backwards, so
   * windows from the end grow fourfold until they hold `tail` matches or the whole stream.
   * (With a prefix that ends inside a token, the count is of the whole tokens before it.)
   */
  async #tailStart(filter: string, tail: number): Promise<{ afterSeq: number; skip: number }> {
    const info = await this.conn.call('stream info', () => this.conn.jsm.streams.info(this.stream));
    const { first_seq: first, last_seq: last } = info.state;
    if (tail <= 0 || last === 0) return { afterSeq: last, skip: 0 };
    for (let window = tail * 4; ; window *= 4) {
      const from = Math.max(first, last - window + 1);
      const count = await this.#countFrom(filter, from);
      if (count >= tail || from === first) return { afterSeq: from - 1, skip: Math.max(0, count - tail) };
    }
  }

  async #countFrom(filter: string, from: number): Promise<number> {
    return this.conn.call('count stream messages', async () => {
      const consumer = await this.conn.jsm.consumers.add(this.stream, {
        filter_subject: filter,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: from,
        ack_policy: AckPolicy.None,
        inactive_threshold: 5_000_000_000,
        mem_storage: true,
        num_replicas: 1,
      });
      this.conn.jsm.consumers.delete(this.stream, consumer.name).catch(() => {});
      return consumer.num_pending;
    });
  }
}
