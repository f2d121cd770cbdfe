/**
 * The store contract (DESIGN.md §2): versioned keys with compare-and-set and resumable watches,
 * plus append-only streams for logs. Every backend (SQLite embedded, NATS JetStream) implements
 * exactly this; nothing else in nearby knows which one it talks to.
 */

export interface Entry<T = unknown> {
  key: string;
  value: T;
  /** Revision of the last write to this key (store-wide, strictly increasing). */
  revision: number;
}

export type WatchEvent<T = unknown> =
  | { type: 'put'; key: string; value: T; revision: number }
  | { type: 'delete'; key: string; revision: number }
  /** After the initial values, before live changes: the watcher has seen the whole prefix. */
  | { type: 'synced'; revision: number };

export interface PutOptions {
  /** Compare-and-set: the key's current revision must be this; 0 means the key must not exist. */
  expectRevision?: number;
}

export interface WatchOptions {
  /** Resume after this revision (changes only). Without it, current values come first, then `synced`. */
  afterRevision?: number;
  signal?: AbortSignal;
}

export interface StreamMessage<T = unknown> {
  seq: number;
  subject: string;
  time: number;
  data: T;
}

export interface ReadOptions {
  /** Start after this sequence number; default: the last `tail` messages. */
  afterSeq?: number;
  /** How many past messages to deliver when `afterSeq` is absent (default 100). */
  tail?: number;
  /** Keep the iterator open and deliver new messages as they come. */
  follow?: boolean;
  signal?: AbortSignal;
}

export interface Store {
  get<T>(key: string): Promise<Entry<T> | undefined>;
  /** @throws NearbyError STORE_CONFLICT when `expectRevision` does not match. Returns the new revision. */
  put<T>(key: string, value: T, options?: PutOptions): Promise<number>;
  /** Returns false when the key did not exist. @throws NearbyError STORE_CONFLICT */
  delete(key: string, options?: PutOptions): Promise<boolean>;
  list<T>(prefix: string): Promise<Entry<T>[]>;
  /** The store's current revision: every write so far has a revision at or below it. */
  revision(): Promise<number>;
  watch<T>(prefix: string, options?: WatchOptions): AsyncIterable<WatchEvent<T>>;
  /** Appends to a stream subject such as `logs.<app>.<region>.<machine>`. */
  append(subject: string, data: unknown): Promise<number>;
  /** Appends several messages to one subject at once (one write for all). Returns the last seq. */
  appendAll(subject: string, items: readonly unknown[]): Promise<number>;
  /** Reads subjects starting with `subjectPrefix`, oldest first. */
  read<T>(subjectPrefix: string, options?: ReadOptions): AsyncIterable<StreamMessage<T>>;
  close(): Promise<void>;
}
