/** The API calls a deploy makes beyond the Machines API: releases, health checks, cordon, logs. */
import type {
  AutoscaleConfig,
  DeployStrategy,
  LogLine,
  MachineConfig,
  ReleaseRecord,
  ReleaseStatus,
} from '../../model/mod.ts';
import type { ApiClient } from '../client.ts';

const appPath = (app: string) => `/v1/apps/${encodeURIComponent(app)}`;

export interface CheckResult {
  name: string;
  status: 'passing' | 'critical';
  output: string;
}

export const releasesApi = {
  list: async (client: ApiClient, app: string) =>
    (await client.request<{ releases: ReleaseRecord[] }>('GET', `${appPath(app)}/releases`)).releases,
  get: (client: ApiClient, app: string, version: number) =>
    client.request<ReleaseRecord>('GET', `${appPath(app)}/releases/${version}`),
  create: (
    client: ApiClient,
    app: string,
    body: {
      image: string;
      strategy: DeployStrategy;
      configs: Record<string, MachineConfig>;
      autoscale?: AutoscaleConfig;
    },
  ) => client.request<ReleaseRecord>('POST', `${appPath(app)}/releases`, body),
  setStatus: (client: ApiClient, app: string, version: number, status: ReleaseStatus, reason?: string) =>
    client.request<ReleaseRecord>('PATCH', `${appPath(app)}/releases/${version}`, {
      status,
      ...(reason ? { reason: reason.slice(0, 4000) } : {}),
    }),
};

export const deployApi = {
  checks: (client: ApiClient, app: string, id: string, signal?: AbortSignal) =>
    client.request<{ checks: CheckResult[]; instance_id: string }>(
      'GET',
      `${appPath(app)}/machines/${id}/checks`,
      undefined,
      signal,
    ),
  cordon: (client: ApiClient, app: string, id: string, cordoned: boolean) =>
    client.request('POST', `${appPath(app)}/machines/${id}/${cordoned ? 'cordon' : 'uncordon'}`),
  wait: (
    client: ApiClient,
    app: string,
    id: string,
    state: string,
    seconds: number,
    instanceId: string,
    signal?: AbortSignal,
  ) =>
    client.request(
      'GET',
      `${appPath(app)}/machines/${id}/wait?state=${state}&timeout=${seconds}&instance_id=${instanceId}`,
      undefined,
      signal,
    ),
  /** Lines of one machine's output: the past `tail` lines, then new ones while `signal` lasts. */
  logs: (
    client: ApiClient,
    app: string,
    id: string,
    options: { follow: boolean; tail: number },
    signal: AbortSignal,
  ) =>
    client.lines<LogLine>(
      `${appPath(app)}/logs?follow=${options.follow}&tail=${options.tail}&machine=${id}`,
      signal,
    ),
};
