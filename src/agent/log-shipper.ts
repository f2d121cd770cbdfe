/**
 * Ships a machine's log file (CRI format, written by its shim) to the store's log stream,
 * remembering how far it got so that a restart of nearby neither loses nor repeats lines.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import type { LogLine } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import { isStoreAway, type StoreOutage } from '../store/outage.ts';

const POLL_MS = 200;
const CRI = /^(\S+) (stdout|stderr) ([FP]) (.*)$/;

export class LogShipper {
  #offset = 0;
  #partial = '';
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #loaded: Promise<void>;

  readonly store: Store;
  readonly subject: string;
  readonly logPath: string;
  readonly offsetPath: string;
  readonly labels: { machine: string; region: string };
  /** Told when the store is away: lines wait in the file (the offset stays) until it is back. */
  readonly outage: StoreOutage | undefined;

  constructor(
    store: Store,
    subject: string,
    logPath: string,
    offsetPath: string,
    labels: { machine: string; region: string },
    outage?: StoreOutage,
  ) {
    this.store = store;
    this.subject = subject;
    this.logPath = logPath;
    this.offsetPath = offsetPath;
    this.labels = labels;
    this.outage = outage;
    this.#loaded = readFile(offsetPath, 'utf8')
      .then((text) => {
        this.#offset = Number(text) || 0;
      })
      .catch(() => {});
  }

  start(): void {
    if (this.#timer) return;
    // A failed read is tried again at the next tick: nothing here may end the process.
    this.#timer = setInterval(() => void this.flush().catch(() => {}), POLL_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Ships whatever was written since the last call; while the store is away, ships nothing (no throw). */
  async flush(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.#loaded;
      const file = await open(this.logPath, 'r').catch(() => undefined);
      if (!file) return;
      try {
        const { size } = await file.stat();
        if (size < this.#offset) this.#offset = 0; // the file was replaced
        if (size === this.#offset) return;
        const buffer = Buffer.alloc(Math.min(size - this.#offset, 4 * 1024 * 1024));
        const { bytesRead } = await file.read(buffer, 0, buffer.length, this.#offset);
        const text = buffer.subarray(0, bytesRead).toString('utf8');
        const end = text.lastIndexOf('\n');
        if (end < 0) return;
        // The partial-line state advances only once the batch is stored (a failed append re-reads it).
        const state = { partial: this.#partial };
        const entries = text
          .slice(0, end)
          .split('\n')
          .flatMap((line) => this.#entry(line, state) ?? []);
        try {
          await this.store.appendAll(this.subject, entries);
          this.outage?.back();
        } catch (error) {
          if (!isStoreAway(error)) throw error;
          this.outage?.lost(error);
          return;
        }
        this.#partial = state.partial;
        this.#offset += Buffer.byteLength(text.slice(0, end + 1));
        await writeFile(this.offsetPath, String(this.#offset));
      } finally {
        await file.close();
      }
    } finally {
      this.#busy = false;
    }
  }

  /** A CRI line as a log entry; undefined for a partial line (kept until its end) or a garbled one. */
  #entry(line: string, state: { partial: string }): LogLine | undefined {
    const match = CRI.exec(line);
    if (!match) return undefined;
    const [, timestamp, stream, tag, text] = match;
    if (tag === 'P') {
      state.partial += text;
      return undefined;
    }
    const message = state.partial + text;
    state.partial = '';
    return { timestamp, ...this.labels, stream: stream as LogLine['stream'], message };
  }
}
