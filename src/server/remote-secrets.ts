/**
 * Secrets for an agent on a host without the API: the secrets key stays with the API, and the
 * agent asks it for an app's values (`GET /v1/apps/<app>/secret-values`) with its host token when
 * it prepares a machine of that app.
 */
import { NearbyError } from '../errors.ts';

const secretsUnavailable = (app: string, why: string, cause?: unknown) =>
  new NearbyError('SECRETS_UNAVAILABLE', `cannot get the secrets of app ${app}: ${why}`, {
    status: 503,
    hint: "check the agent's --api-url and --token-file (a host token: `nearby tokens create host`)",
    cause,
  });

export function remoteSecrets(apiUrl: string, token: string | undefined) {
  return async (app: string): Promise<Record<string, string>> => {
    if (!token) throw secretsUnavailable(app, 'this agent has no API token');
    let response: Response;
    try {
      response = await fetch(`${apiUrl}/v1/apps/${encodeURIComponent(app)}/secret-values`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(10_000),
      });
    } catch (cause) {
      throw secretsUnavailable(app, `the API at ${apiUrl} did not answer`, cause);
    }
    const body = (await response.json().catch(() => ({}))) as {
      values?: Record<string, string>;
      error?: string;
    };
    if (!response.ok || !body.values)
      throw secretsUnavailable(app, body.error ?? `the API answered ${response.status}`);
    return body.values;
  };
}
