/**
 * Reads a JetStream stream in order through an ordered consumer: from the last message of each
 * subject, or after a sequence; until caught up, or on and on (`follow`). A following reader
 * survives the store going away: it resumes after the last sequence it delivered, with jittered
 * backoff, forever. The client's idle heartbeats make a silent consumer count as broken.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConsumerInfo, type ConsumerMessages, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { storeUnavailable } from '../errors.ts';
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
  /**
   * Whether the server the consumer landed on has the stream's writes so far. An ordered consumer
   * reads the replica it is placed on, and a follower may answer with a past state (kv.ts,
   * `onLeader`). False: the consumer is dropped and made again.
   */
  current?: (consumer: ConsumerInfo) => Promise<boolean>;
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
/** How many times a read makes its consumer again while it lands on a replica that may lag. */
const STALE_TRIES = 60;

/** The subjects under `filter` that have a message now (the stream leader answers). */
async function subjectsUnder(conn: StoreConnection, stream: string, filter: string): Promise<Set<string>> {
  const info = await conn.jsm.streams.info(stream, { subjects_filter: filter });
  return new Set(Object.keys(info.state.subjects ?? {}));
}

/** How long a read past its target waits for one more message before it trusts it has all. */
const QUIET_MS = 250;

/** `next`'s result, or 'quiet' when it takes longer than `ms` (`next` stays pending). */
async function quietOr<T>(next: Promise<T>, ms: number): Promise<T | 'quiet'> {
  const timer = new AbortController();
  try {
    return await Promise.race([next, sleep(ms, 'quiet' as const, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
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
  /**
   * A snapshot (last per subject): the subjects there were once its consumer existed, until each
   * has come. A key rewritten while the snapshot is sent loses its old message (one kept per key)
   * and comes as its new one, past `target` maybe: the read waits for every subject, not a sequence.
   */
  let unseen: Set<string> | undefined;
  let failures = 0;
  let stale = 0;
  while (!signal?.aborted && !conn.nc.isClosed()) {
    let messages: ConsumerMessages | undefined;
    let remove: (() => Promise<unknown>) | undefined;
    const stop = () => messages?.stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      conn.ensureConnected();
      const consumer = await conn.js.consumers.get(stream, {
        filter_subjects: filter,
        // With one message kept per key, "after the last one seen" is the rest of the snapshot.
        ...(lastSeq === undefined
          ? { deliver_policy: DeliverPolicy.LastPerSubject }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: lastSeq + 1 }),
        inactive_threshold: 30_000,
      });
      remove = () => consumer.delete();
      const info = await consumer.info(true);
      if (!caughtUp && options.current !== undefined && !(await options.current(info))) {
        // "Away, try again" (not "wrong"): the leader is being elected, or placement was unlucky.
        if (++stale >= STALE_TRIES)
          throw storeUnavailable(
            conn.servers,
            new Error(
              `reading ${filter}: its consumer landed ${STALE_TRIES} times on a replica that may lag`,
            ),
          );
        remove().catch(() => {});
        remove = undefined;
        // Placement is random: try again at once; a pause only once it looks like more than luck.
        if (stale > 20) await sleep(Math.random() * 5 * stale, undefined, { signal }).catch(() => {});
        continue;
      }
      // Both once the consumer exists, not before: what was written in between comes through it
      // as new messages, at or below the last sequence taken now.
      // Asked together: each is a round trip to the stream leader, a continent away in the world.
      const [last, subjects] = await Promise.all([
        !caughtUp && target === undefined ? lastSequence(conn, stream, filter) : undefined,
        !caughtUp && unseen === undefined && 'lastPerSubject' in start
          ? subjectsUnder(conn, stream, filter)
          : undefined,
      ]);
      target ??= last;
      unseen ??= subjects;
      const { num_pending: pending } = info;
      // `expires` sets the idle heartbeat (half of it): two missed beats and the client recreates
      // the consumer, so a watch whose server died under it notices in a few seconds.
      messages = await consumer.consume({ max_messages: 1000, expires: 5000 });
      if (signal?.aborted) return;
      if (failures > 0) options.outage?.resumed();
      failures = 0;
      if (!caughtUp && (unseen === undefined ? pending === 0 : unseen.size === 0)) {
        caughtUp = true;
        yield 'caught-up';
        if (!follow) return;
      }
      const iterator = messages[Symbol.asyncIterator]();
      let next = iterator.next();
      for (;;) {
        // Past the last sequence there was when the read began, and nothing more comes for a
        // moment while the server still counts some pending: that count is the miscount (a
        // subject purged meanwhile never comes).
        const past = !caughtUp && target !== undefined && (lastSeq ?? 0) >= target;
        const result = past ? await quietOr(next, QUIET_MS) : await next;
        if (result === 'quiet') {
          caughtUp = true;
          yield 'caught-up';
          if (!follow) return;
          continue;
        }
        if (result.done) break;
        next = iterator.next();
        const message = result.value;
        lastSeq = message.seq;
        unseen?.delete(message.subject);
        yield message;
        // Whole: a snapshot once every subject came (2.9.10 counts its pending wrong both ways:
        // over while keys are overwritten, and to 0 before a key's new message when its old one
        // was dropped); a sequence range once nothing is pending or its end is reached.
        const whole =
          unseen === undefined
            ? message.info.pending === 0 || message.seq >= (target ?? 0)
            : unseen.size === 0;
        if (!caughtUp && whole) {
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
