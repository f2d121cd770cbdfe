/**
 * A real store (usually SQLite in a temp dir) with a switch that takes it away: while cut, every
 * call fails with STORE_UNAVAILABLE (as the NATS backend's do with no server) and watches that
 * were open end with that error. For unit tests of the loops that must live through an outage,
 * where a whole NATS cluster would be slower and less to the point.
 */
import { storeUnavailable } from '../../src/store/errors.ts';
import type { Store, WatchEvent, WatchOptions } from '../../src/store/types.ts';

export interface FlakyStore extends Store {
  /** Takes the store away: calls fail, open watches end with STORE_UNAVAILABLE. */
  cut(): void;
  restore(): void;
  /** Watches opened so far (a loop that resumes opens another). */
  readonly watchesOpened: number;
}

export function flakyStore(inner: Store): FlakyStore {
  let away = false;
  let watchesOpened = 0;
  const cuts = new Set<() => void>();
  const gone = () => storeUnavailable(['flaky-store']);
  const guard = async <T>(call: () => Promise<T>): Promise<T> => {
    if (away) throw gone();
    const result = await call();
    if (away) throw gone();
    return result;
  };
  async function* watch<T>(prefix: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    if (away) throw gone();
    watchesOpened++;
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let cutOff = false;
    const cut = () => {
      cutOff = true;
      controller.abort();
    };
    cuts.add(cut);
    try {
      for await (const event of inner.watch<T>(prefix, { ...options, signal: controller.signal })) {
        if (away) break;
        yield event;
      }
      if (cutOff || away) throw gone();
    } finally {
      cuts.delete(cut);
      options.signal?.removeEventListener('abort', onAbort);
      controller.abort();
    }
  }
  return {
    get: (key) => guard(() => inner.get(key)),
    put: (key, value, options) => guard(() => inner.put(key, value, options)),
    delete: (key, options) => guard(() => inner.delete(key, options)),
    list: (prefix) => guard(() => inner.list(prefix)),
    revision: () => guard(() => inner.revision()),
    watch,
    append: (subject, data) => guard(() => inner.append(subject, data)),
    appendAll: (subject, items) => guard(() => inner.appendAll(subject, items)),
    read: (subject, options) => {
      if (away) throw gone();
      return inner.read(subject, options);
    },
    close: () => inner.close(),
    cut() {
      away = true;
      for (const cut of [...cuts]) cut();
    },
    restore() {
      away = false;
    },
    get watchesOpened() {
      return watchesOpened;
    },
  };
}
