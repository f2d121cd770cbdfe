/** The Machines API calls the CLI makes, typed once. */
import type { MachineConfig, MachineView } from '../model/mod.ts';
import type { ApiCalls } from './client.ts';

/** What the calls need of a client: its `request` (the web dashboard passes its own). */
export type ApiRequester = Pick<ApiCalls, 'request'>;

const base = (app: string) => `/v1/apps/${encodeURIComponent(app)}/machines`;

export const machinesApi = {
  list: (client: ApiRequester, app: string) => client.request<MachineView[]>('GET', base(app)),
  get: (client: ApiRequester, app: string, id: string) =>
    client.request<MachineView>('GET', `${base(app)}/${id}`),
  create: (
    client: ApiRequester,
    app: string,
    body: { config: MachineConfig; name?: string; region?: string; skip_launch?: boolean },
  ) => client.request<MachineView>('POST', base(app), body),
  update: (client: ApiRequester, app: string, id: string, body: { config: MachineConfig }) =>
    client.request<MachineView>('POST', `${base(app)}/${id}`, body),
  start: (client: ApiRequester, app: string, id: string) =>
    client.request('POST', `${base(app)}/${id}/start`),
  stop: (client: ApiRequester, app: string, id: string, body: { signal?: string; timeout?: string } = {}) =>
    client.request('POST', `${base(app)}/${id}/stop`, body),
  destroy: (client: ApiRequester, app: string, id: string, force: boolean) =>
    client.request('DELETE', `${base(app)}/${id}${force ? '?force=true' : ''}`),
  wait: (
    client: ApiRequester,
    app: string,
    id: string,
    state: string,
    timeoutSeconds = 60,
    instanceId?: string,
  ) =>
    client.request(
      'GET',
      `${base(app)}/${id}/wait?state=${state}&timeout=${timeoutSeconds}${instanceId ? `&instance_id=${instanceId}` : ''}`,
    ),
};

/** Waits past the API's 60-second cap by asking again. */
export async function waitLong(
  client: ApiRequester,
  app: string,
  id: string,
  state: string,
  timeoutSeconds: number,
  instanceId?: string,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    try {
      await machinesApi.wait(client, app, id, state, Math.max(1, Math.min(60, left)), instanceId);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'WAIT_TIMEOUT' || left <= 60) throw error;
    }
  }
}

/**
 * Destroys a machine (forced) and waits until it is gone from the app's list, so a deploy that
 * says "destroyed" is right, and one step's list is not the next step's surprise.
 */
export async function destroyAndWait(client: ApiRequester, app: string, id: string): Promise<void> {
  await machinesApi.destroy(client, app, id, true);
  await waitLong(client, app, id, 'destroyed', 120);
}
