/**
 * `node:timers/promises`' `setTimeout` for the browser: the CLI's deploy steps that the dashboard
 * runs (src/cli/deploy) wait with it. Vite puts this file in its place (src/web/vite.config.ts).
 */
export function setTimeout<T = void>(
  ms: number,
  value?: T,
  options: { signal?: AbortSignal } = {},
): Promise<T> {
  const { signal } = options;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = globalThis.setTimeout(() => {
      signal?.removeEventListener('abort', aborted);
      resolve(value as T);
    }, ms);
    const aborted = () => {
      globalThis.clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', aborted, { once: true });
  });
}
