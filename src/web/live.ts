/**
 * Reads the API's server-sent events (`GET /v1/apps/{app}/live`) with fetch rather than
 * EventSource, which cannot send the `Authorization` header. Reconnects after a dropped stream.
 */
import { useEffect, useState } from 'preact/hooks';
import { pieces, send } from './api.ts';
import type { AppActivity, AppEvent, LogLine, MachineView, TrafficRoute } from './types.ts';

const MAX_LOG_LINES = 300;
const MAX_APP_EVENTS = 200;
/** Log lines are shown at most this often. */
const LOG_BATCH_MS = 100;
const RECONNECT_MS = 2000;

export interface LiveApp {
  machines?: MachineView[];
  /** What the edge proxies last saw of the app's machines. */
  activity?: AppActivity;
  /** Requests by route (entry region → serving region), as the proxies last counted them. */
  traffic?: TrafficRoute[];
  /** Autoscaling and budget events, oldest first. */
  events: AppEvent[];
  logs: LogLine[];
  connected: boolean;
  error?: Error;
}

/** Splits an event stream into `{event, data}` pairs (comment lines such as pings are skipped). */
export async function* serverEvents(
  body: ReadableStream<Uint8Array>,
): AsyncIterable<{ event: string; data: string }> {
  for await (const block of pieces(body, '\n\n')) {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) yield { event, data: data.join('\n') };
  }
}

export function useLiveApp(app: string): LiveApp {
  const [state, setState] = useState<LiveApp>({ logs: [], events: [], connected: false });
  useEffect(() => {
    const controller = new AbortController();
    const pending: LogLine[] = [];
    let flush: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      while (!controller.signal.aborted) {
        try {
          const response = await send('GET', `/v1/apps/${encodeURIComponent(app)}/live`, undefined, {
            signal: controller.signal,
          });
          setState((old) => ({ ...old, logs: [], events: [], connected: true, error: undefined }));
          for await (const { event, data } of serverEvents(response.body!)) {
            if (event === 'machines') setState((old) => ({ ...old, machines: JSON.parse(data) }));
            if (event === 'activity') setState((old) => ({ ...old, activity: JSON.parse(data) }));
            if (event === 'traffic') setState((old) => ({ ...old, traffic: JSON.parse(data).routes }));
            if (event === 'app-event') {
              const appEvent = JSON.parse(data) as AppEvent;
              setState((old) => ({ ...old, events: [...old.events.slice(1 - MAX_APP_EVENTS), appEvent] }));
            }
            if (event === 'log') {
              // Lines that come together render together: a burst of them is one render, not hundreds.
              pending.push(JSON.parse(data) as LogLine);
              flush ??= setTimeout(() => {
                const lines = pending.splice(0);
                flush = undefined;
                setState((old) => ({ ...old, logs: [...old.logs, ...lines].slice(-MAX_LOG_LINES) }));
              }, LOG_BATCH_MS);
            }
          }
        } catch (error) {
          if (controller.signal.aborted) return;
          setState((old) => ({ ...old, connected: false, error: error as Error }));
        }
        setState((old) => ({ ...old, connected: false }));
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(flush);
    };
  }, [app]);
  return state;
}
