/**
 * Reads a JetStream stream in order through an ordered consumer: from the last message of each
 * subject, or after a sequence; until caught up, or on and on (`follow`). A following reader
 * survives the store going away: it resumes after the last sequence it delivered, with jittered
 * backoff, forever. The client's idle heartbeats make a silent consumer count as broken.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsumerMessages, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { StoreConnection } from './connection.ts';

export type ReadStart = { lastPerSubject: true } | { afterSeq: number };

/** What a following reader reports when the store goes away and comes back. */
export interface OutageListener {
  lost(error: unknown, resumeAfter: number | undefined): void;
  resumed(): void;
}

export interface ConsumeOptions {
  follow: boolean;
  signal?: AbortSignal;
  outage?: OutageListener;
}

/**
 * The sequence of the last message under `filter` now, 0 for none. A read that has delivered it,
 * or anything after it, has delivered everything that existed then: nats-server 2.9.10 can
 * overcount a filtered consumer's `num_pending` when a key is overwritten while its last-per-subject
 * snapshot is delivered (the superseded message is never sent, but stays counted), so `pending`
 * alone may never reach 0 and a list or a watch's `synced` would never come.
 */
async function lastSequence(conn: StoreConnection, stream: string, filter: string): Promise<number> {
  const last = await conn.jsm.streams.getMessage(stream, { last_by_subj: filter });
  return last?.seq ?? 0;
}

/** Yields the messages, and `caught-up` once: when everything that existed at the start is out. */
export async function* consumeStream(
  conn: StoreConnection,
  stream: string,
  filter: string,
  start: ReadStart,
  options: ConsumeOptions,
): AsyncGenerator<JsMsg | 'caught-up'> {
  const { follow, signal } = options;
  let lastSeq = 'afterSeq' in start ? start.afterSeq : undefined;
  let caughtUp = false;
  /** The last sequence under the filter when the read began (lastSequence). */
  let target: number | undefined;
  let failures = 0;
  while (!signal?.aborted && !conn.nc.isClosed()) {
    let messages: ConsumerMessages | undefined;
    let remove: (() => Promise<unknown>) | undefined;
    const stop = () => messages?.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      conn.ensureConnected();
      if (!caughtUp && target === undefined) target = await lastSequence(conn, stream, filter);
      const consumer = await conn.js.consumers.get(stream, {
        filter_subjects: filter,
        // With one message kept per key, "after the last one seen" is the rest of the snapshot.
        ...(lastSeq === undefined
          ? { deliver_policy: DeliverPolicy.LastPerSubject }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }),
        inactive_threshold: 30_000,
      });
      remove = () => consumer.delete();
      const { num_pending: pending } = await consumer.info(true);
      // `expires` sets the idle heartbeat (half of it): two missed beats and the client recreates
      // the consumer, so a watch whose server died under it notices in a few seconds.
      messages = await consumer.consume({ max_messages: 1000, expires: 5000 });
      if (signal?.aborted) return;
      if (failures > 0) options.outage?.resumed();
      failures = 0;
      if (!caughtUp && (pending === 0 || (target ?? 0) <= (lastSeq ?? 0))) {
        caughtUp = true;
        yield 'caught-up';
        if (!follow) return;
      }
      for await (const message of messages) {
        lastSeq = message.seq;
        yield message;
        if (!caughtUp && (message.info.pending === 0 || message.seq >= (target ?? 0))) {
          caughtUp = true;
          yield 'caught-up';
          if (!follow) return;
        }
      }
      if (!follow) throw conn.storeError(`reading ${filter}`, new Error('the read ended early'));
    } catch (error) {
      if (signal?.aborted || conn.nc.isClosed()) return;
      if (!follow) throw conn.storeError(`reading ${filter}`, error);
      if (failures === 0) options.outage?.lost(error, lastSeq);
      failures++;
    } finally {
      signal?.removeEventListener('abort', stop);
      messages?.stop();
      remove?.().catch(() => {});
    }
    const backoff = Math.min(5000, 100 * 2 ** Math.min(failures, 6)) * (0.5 + Math.random());
    await sleep(backoff, undefined, { signal }).catch(() => {});
  }
}
