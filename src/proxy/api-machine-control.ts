/**
 * The proxy's way to wake and stop machines (scale to zero): an authenticated call to the control
 * plane's API, so the machine record keeps one writer and its events say why (request, idle),
 * whichever host the proxy and the API run on.
 */
import type { MachineControl } from './activator.ts';
import { proxyApiRefused, proxyApiUnreachable, proxyNoApiToken } from './errors.ts';

export interface ApiMachineControlOptions {
  /** `http://10.0.0.1:4280` */
  apiUrl: string;
  /** An API token that may start and stop the apps' machines; undefined: calls fail, saying so. */
  token: string | undefined;
  /** Per call; default 30 s: a start across continents is several compare-and-sets on the store (docs/perf.md). */
  timeoutMs?: number;
}

export function apiMachineControl(options: ApiMachineControlOptions): MachineControl {
  const call = async (app: string, id: string, action: string, reason: string) => {
    const path = `/v1/apps/${encodeURIComponent(app)}/machines/${encodeURIComponent(id)}/${action}?reason=${reason}`;
    if (!options.token) throw proxyNoApiToken(action, id);
    let response: Response;
    try {
      response = await fetch(`${options.apiUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${options.token}` },
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (cause) {
      throw proxyApiUnreachable(action, id, options.apiUrl, cause);
    }
    if (response.ok) {
      await response.body?.cancel();
      return;
    }
    const body = (await response.json().catch(() => ({}))) as {
      error?: string;
      code?: string;
      hint?: string;
    };
    throw proxyApiRefused(
      action,
      id,
      response.status,
      body.error ?? `the API answered ${response.status}`,
      body.code,
      body.hint,
    );
  };
  return {
    start: (app, id, reason) => call(app, id, 'start', reason),
    stop: (app, id, { suspend, reason }) => call(app, id, suspend ? 'suspend' : 'stop', reason),
  };
}
