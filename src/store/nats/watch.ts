/**
 * Watches on the KV bucket: the last value of every key under the prefix, `synced`, then each
 * change as it lands. The watch outlives the store going away: it resumes after the last revision
 * it delivered, so nothing is lost or repeated. The bucket keeps each key's last change, delete
 * markers included, so resuming from any revision yields the current state of every key changed
 * since (a key changed twice meanwhile shows its last value once: watchers are level-triggered).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, isNearbyError } from '../../errors.ts';
import type { WatchEvent, WatchOptions } from '../types.ts';
import { consumeStream, type OutageListener, type ReadStart } from './consume.ts';
import { decodeKey, prefixFilter } from './key-codec.ts';
import { isDeleteMarker, type KvKeys } from './kv.ts';

/** What the store logs about its long-lived readers (pino's shape). */
export interface StoreLog {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

export async function* watchKeys<T>(
  keys: KvKeys,
  prefix: string,
  options: WatchOptions,
  log: StoreLog | undefined,
): AsyncGenerator<WatchEvent<T>> {
  const { filter, match } = prefixFilter(prefix, '/');
  const resuming = options.afterRevision !== undefined;
  let start: ReadStart = { lastPerSubject: true };
  let synced = false;
  let syncedRevision = 0;
  if (options.afterRevision !== undefined) start = { afterSeq: options.afterRevision };
  else {
    // Taken before the snapshot: every write at or below it is in what the snapshot shows.
    const revision = await untilAnswered(() => keys.revision(), options.signal);
    if (revision === undefined) return;
    syncedRevision = revision;
  }
  const outage: OutageListener = {
    lost: (error, after) =>
      log?.warn(
        { prefix, err: errorMessage(error), afterRevision: after },
        'store watch lost the store; resuming when it is back',
      ),
    resumed: () => log?.info({ prefix }, 'store watch resumed'),
  };
  const messages = consumeStream(keys.conn, keys.stream, keys.subjectPrefix + filter, start, {
    follow: true,
    signal: options.signal,
    outage,
  });
  for await (const message of messages) {
    if (message === 'caught-up') {
      if (!resuming && !synced) {
        synced = true;
        yield { type: 'synced', revision: syncedRevision };
      }
      continue;
    }
    syncedRevision = Math.max(syncedRevision, message.seq);
    const deleted = isDeleteMarker(message.headers?.get('KV-Operation'));
    // A snapshot shows what exists; a delete before `synced` is of a key the watcher never saw.
    if (deleted && !resuming && !synced) continue;
    const key = decodeKey(message.subject.slice(keys.subjectPrefix.length));
    if (!match(key)) continue;
    yield deleted
      ? { type: 'delete', key, revision: message.seq }
      : { type: 'put', key, value: message.json<T>(), revision: message.seq };
  }
}

/** Retries `request` while the store is away, with jittered backoff; `undefined` once `signal` aborts. */
async function untilAnswered<T>(request: () => Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
  for (let attempt = 0; !signal?.aborted; attempt++) {
    try {
      return await request();
    } catch (error) {
      if (!isNearbyError(error, 'STORE_UNAVAILABLE') && !isNearbyError(error, 'STORE_TIMEOUT')) throw error;
      const backoff = Math.min(5000, 100 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random());
      await sleep(backoff, undefined, { signal }).catch(() => {});
    }
  }
  return undefined;
}
