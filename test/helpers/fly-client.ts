/**
 * A small Machines API client written from Fly's public API reference (docs.machines.dev and
 * fly.io/docs/machines/api): the paths, verbs and request bodies a client built for Fly sends.
 * It knows nothing of nearby but the base URL and the token, which is the point of the test.
 */

export interface FlyResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export interface FlyMachineConfig {
  image: string;
  env?: Record<string, string>;
  guest?: { cpu_kind?: string; cpus?: number; memory_mb?: number };
  size?: string;
  init?: { exec?: string[]; entrypoint?: string[]; cmd?: string[]; tty?: boolean };
  services?: unknown[];
  checks?: Record<string, unknown>;
  restart?: { policy?: 'no' | 'on-failure' | 'always'; max_retries?: number };
  auto_destroy?: boolean;
  metadata?: Record<string, string>;
  files?: { guest_path: string; raw_value?: string; secret_name?: string }[];
  stop_config?: { timeout?: string; signal?: string };
  processes?: { name?: string; cmd?: string[]; entrypoint?: string[]; env?: Record<string, string> }[];
  schedule?: string;
  [extra: string]: unknown;
}

export class FlyClient {
  readonly #base: string;
  readonly #token: string;
  /** Sent as `fly-machine-lease-nonce` when set. */
  leaseNonce: string | undefined;

  /**
   * Clients written from the API docs (Go's and Python's among them) send `Content-Type:
   * application/json` on every request, with a body or not; `'with-body'` sends it only with one.
   */
  readonly #contentType: 'always' | 'with-body';

  constructor(baseUrl: string, token: string, options: { contentType?: 'always' | 'with-body' } = {}) {
    this.#base = baseUrl.replace(/\/+$/, '');
    this.#token = token;
    this.#contentType = options.contentType ?? 'always';
  }

  // biome-ignore lint/suspicious/noExplicitAny: tests read response fields one by one and assert on them
  async request<T = any>(method: string, path: string, body?: unknown): Promise<FlyResponse<T>> {
    const response = await fetch(`${this.#base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.#token}`,
        ...(body === undefined && this.#contentType === 'with-body'
          ? {}
          : { 'content-type': 'application/json' }),
        ...(this.leaseNonce ? { 'fly-machine-lease-nonce': this.leaseNonce } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: response.status, body: parsed as T, headers: response.headers };
  }

  // Apps
  createApp = (app_name: string, org_slug?: string, network?: string) =>
    this.request('POST', '/v1/apps', { app_name, org_slug, network });
  listApps = (org_slug?: string) => this.request('GET', `/v1/apps${org_slug ? `?org_slug=${org_slug}` : ''}`);
  getApp = (app: string) => this.request('GET', `/v1/apps/${app}`);
  deleteApp = (app: string) => this.request('DELETE', `/v1/apps/${app}`);

  // Machines
  createMachine = (
    app: string,
    body: {
      config: FlyMachineConfig;
      name?: string;
      region?: string;
      skip_launch?: boolean;
      skip_service_registration?: boolean;
      lease_ttl?: number;
    },
  ) => this.request('POST', `/v1/apps/${app}/machines`, body);
  listMachines = (app: string, query = '') => this.request('GET', `/v1/apps/${app}/machines${query}`);
  getMachine = (app: string, id: string) => this.request('GET', `/v1/apps/${app}/machines/${id}`);
  updateMachine = (app: string, id: string, body: { config: FlyMachineConfig; current_version?: string }) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}`, body);
  startMachine = (app: string, id: string) => this.request('POST', `/v1/apps/${app}/machines/${id}/start`);
  stopMachine = (app: string, id: string, body?: { signal?: string; timeout?: string }) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/stop`, body);
  restartMachine = (app: string, id: string, query = '') =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/restart${query}`);
  suspendMachine = (app: string, id: string) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/suspend`);
  signalMachine = (app: string, id: string, signal: string) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/signal`, { signal });
  deleteMachine = (app: string, id: string, force = false) =>
    this.request('DELETE', `/v1/apps/${app}/machines/${id}${force ? '?force=true' : ''}`);
  waitMachine = (
    app: string,
    id: string,
    query: { state?: string; timeout?: number; instance_id?: string },
  ) =>
    this.request(
      'GET',
      `/v1/apps/${app}/machines/${id}/wait?${new URLSearchParams(
        Object.entries(query)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => [k, String(v)]),
      )}`,
    );
  cordon = (app: string, id: string) => this.request('POST', `/v1/apps/${app}/machines/${id}/cordon`);
  uncordon = (app: string, id: string) => this.request('POST', `/v1/apps/${app}/machines/${id}/uncordon`);
  events = (app: string, id: string) => this.request('GET', `/v1/apps/${app}/machines/${id}/events`);
  versions = (app: string, id: string) => this.request('GET', `/v1/apps/${app}/machines/${id}/versions`);
  getMetadata = (app: string, id: string) => this.request('GET', `/v1/apps/${app}/machines/${id}/metadata`);
  setMetadata = (app: string, id: string, key: string, value: string) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/metadata/${key}`, { value });
  deleteMetadata = (app: string, id: string, key: string) =>
    this.request('DELETE', `/v1/apps/${app}/machines/${id}/metadata/${key}`);
  acquireLease = (app: string, id: string, ttl?: number, description?: string) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/lease`, { ttl, description });
  getLease = (app: string, id: string) => this.request('GET', `/v1/apps/${app}/machines/${id}/lease`);
  releaseLease = (app: string, id: string) => this.request('DELETE', `/v1/apps/${app}/machines/${id}/lease`);
  exec = (app: string, id: string, body: { command?: string[]; cmd?: string; timeout?: number }) =>
    this.request('POST', `/v1/apps/${app}/machines/${id}/exec`, body);
  ps = (app: string, id: string) => this.request('GET', `/v1/apps/${app}/machines/${id}/ps`);

  // Secrets
  listSecrets = (app: string) => this.request('GET', `/v1/apps/${app}/secrets`);
  setSecrets = (app: string, values: Record<string, string | null>) =>
    this.request('POST', `/v1/apps/${app}/secrets`, { values });
  setSecret = (app: string, name: string, value: string) =>
    this.request('POST', `/v1/apps/${app}/secrets/${name}`, { value });
  deleteSecret = (app: string, name: string) => this.request('DELETE', `/v1/apps/${app}/secrets/${name}`);

  // Tokens
  createDeployToken = (app: string, body?: { name?: string; expiry?: string }) =>
    this.request('POST', `/v1/apps/${app}/deploy_token`, body ?? {});
  createOrgToken = (org_slug?: string, name?: string) =>
    this.request('POST', '/v1/tokens', { org_slug, name });
  listTokens = () => this.request('GET', '/v1/tokens');
  revokeToken = (id: string) => this.request('DELETE', `/v1/tokens/${id}`);
  logs = (app: string) => this.request('GET', `/v1/apps/${app}/logs`);
}
