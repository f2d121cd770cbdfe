/** Loads one API path for a component, again when `reload()` is called or a dependency changes. */
import { useCallback, useEffect, useState } from 'preact/hooks';
import { call } from './api.ts';

export interface Loaded<T> {
  data?: T;
  error?: Error;
  reload: () => void;
}

export function useFetch<T>(path: string | undefined, intervalMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error }>({});
  const [round, setRound] = useState(0);
  const reload = useCallback(() => setRound((n) => n + 1), []);
  useEffect(() => {
    if (!path) return;
    const controller = new AbortController();
    call<T>('GET', path, undefined, { signal: controller.signal }).then(
      (data) => setState({ data }),
      (error: Error) => {
        if (!controller.signal.aborted) setState((old) => ({ ...old, error }));
      },
    );
    const timer = intervalMs ? setTimeout(reload, intervalMs) : undefined;
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [path, round, intervalMs, reload]);
  return { ...state, reload };
}
