/**
 * Pull progress as a whole image: per-layer byte counts summed over the layers an image needs
 * (cached layers count as done), and a throttle so observers see it a few times a second, not per chunk.
 */

/** Bytes and layers of one image pull, summed. */
export interface PullTotals {
  done_bytes: number;
  total_bytes: number;
  layers_done: number;
  layers_total: number;
}

/** Sums per-layer progress; a layer seen twice (an image listing it twice) counts once. */
export class PullTally {
  readonly #sizes = new Map<string, number>();
  readonly #bytes = new Map<string, number>();
  readonly #done = new Set<string>();

  constructor(layers: { digest: string; size?: number }[]) {
    for (const layer of layers) this.#sizes.set(layer.digest, layer.size ?? 0);
  }

  /** `bytes` fetched so far of one layer (a running count, as a download reports it). */
  progress(digest: string, bytes: number): void {
    if (this.#sizes.has(digest) && !this.#done.has(digest)) this.#bytes.set(digest, bytes);
  }

  /** The layer is in the cache: cached before the pull, or just fetched. */
  complete(digest: string): void {
    if (this.#sizes.has(digest)) this.#done.add(digest);
  }

  completeAll(): void {
    for (const digest of this.#sizes.keys()) this.#done.add(digest);
  }

  get totals(): PullTotals {
    let total = 0;
    let done = 0;
    for (const [digest, size] of this.#sizes) {
      total += size;
      done += this.#done.has(digest) ? size : Math.min(size, this.#bytes.get(digest) ?? 0);
    }
    return {
      done_bytes: done,
      total_bytes: total,
      layers_done: this.#done.size,
      layers_total: this.#sizes.size,
    };
  }
}

export interface Throttled<T> {
  /** Records the latest value; it is sent now if the last send was `intervalMs` ago, else later. */
  update(value: T): void;
  /** Sends the latest value if it was not sent yet, and waits for every send to finish. */
  flush(): Promise<void>;
}

/**
 * At most one `send` per `intervalMs`, always of the latest value, one at a time and in order; a
 * failed send is passed to `onError` and does not stop later ones.
 */
export function throttle<T>(
  send: (value: T) => Promise<void>,
  intervalMs: number,
  onError: (error: unknown) => void = () => {},
): Throttled<T> {
  let latest: { value: T } | undefined;
  let lastSent = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  let chain = Promise.resolve();
  const sendLatest = () => {
    timer = undefined;
    if (!latest) return;
    const { value } = latest;
    latest = undefined;
    lastSent = Date.now();
    chain = chain.then(() => send(value)).catch(onError);
  };
  return {
    update(value) {
      latest = { value };
      if (timer) return;
      const wait = lastSent + intervalMs - Date.now();
      if (wait <= 0) sendLatest();
      else timer = setTimeout(sendLatest, wait);
    },
    async flush() {
      if (timer) clearTimeout(timer);
      sendLatest();
      await chain;
    },
  };
}
