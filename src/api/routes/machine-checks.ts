/**
 * `GET /v1/apps/{app}/machines/{id}/checks`: runs a machine's health checks once, from the control
 * plane, and says how each went. Deploys poll it to know a new version is healthy before it takes
 * traffic (the edge proxy's own checks only decide routing and are not reported anywhere).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { errorMessage } from '../../errors.ts';
import { type MachineCheck, type MachineConfig, parseDurationMs } from '../../model/mod.ts';
import { type ControlPlane, getRecord, viewOf } from '../machines.ts';
import { appMachineParams } from '../schemas.ts';

export interface CheckResult {
  name: string;
  status: 'passing' | 'critical';
  output: string;
}

const DEFAULT_TIMEOUT_MS = 2000;

/** Every check of a config with Fly's names: `servicecheck-00-http-8080` for service checks. */
export function namedChecks(config: MachineConfig): [string, MachineCheck & { port?: number }][] {
  const named: [string, MachineCheck][] = [];
  let index = 0;
  for (const service of config.services ?? []) {
    for (const check of service.checks ?? []) {
      const port = check.port ?? service.internal_port;
      const name = `servicecheck-${String(index++).padStart(2, '0')}-${check.type ?? 'tcp'}-${port}`;
      named.push([name, { ...check, port }]);
    }
  }
  for (const [name, check] of Object.entries(config.checks ?? {})) named.push([name, check]);
  return named;
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<CheckResult['status'] | string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.once('connect', () => done('passing'));
    socket.once('timeout', () => done(`no connection to port ${port} within ${timeoutMs}ms`));
    socket.once('error', (error) => done(`port ${port}: ${errorMessage(error)}`));
  });
}

function httpCheck(host: string, check: MachineCheck, timeoutMs: number): Promise<string> {
  const https = check.protocol === 'https';
  const path = check.path ?? '/';
  const method = check.method ?? 'GET';
  return new Promise((resolve) => {
    const headers: Record<string, string | string[]> = { ...(check.headers ?? {}) };
    const req = (https ? httpsRequest : httpRequest)(
      { host, port: check.port, path, method, headers, timeout: timeoutMs, rejectUnauthorized: false },
      (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        resolve(status >= 200 && status < 400 ? 'passing' : `${method} ${path} answered ${status}`);
      },
    );
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.once('error', (error) => resolve(`${method} ${path}: ${errorMessage(error)}`));
    req.end();
  });
}

/** Runs every check once, at the same time; `host` is the machine's address. */
export async function runChecks(config: MachineConfig, host: string | undefined): Promise<CheckResult[]> {
  return Promise.all(
    namedChecks(config).map(async ([name, check]): Promise<CheckResult> => {
      if (!host || !check.port) return { name, status: 'critical', output: 'the machine has no address yet' };
      const timeoutMs = parseDurationMs(check.timeout) ?? DEFAULT_TIMEOUT_MS;
      const result =
        check.type === 'http'
          ? await httpCheck(host, check, timeoutMs)
          : await tcpCheck(host, check.port, timeoutMs);
      return result === 'passing'
        ? { name, status: 'passing', output: 'OK' }
        : { name, status: 'critical', output: result };
    }),
  );
}

export function machineCheckRoutes(api: FastifyInstance, cp: ControlPlane): void {
  api.get<{ Params: { app: string; id: string } }>(
    '/v1/apps/:app/machines/:id/checks',
    {
      schema: {
        summary: "Run a machine's health checks now and return each one's status",
        params: appMachineParams,
      },
    },
    async (request) => {
      const view = await viewOf(cp.store, await getRecord(cp.store, request.params.app, request.params.id));
      if (view.state !== 'started') {
        return {
          checks: namedChecks(view.config).map(([name]) => ({
            name,
            status: 'critical',
            output: `the machine is ${view.state}`,
          })),
          instance_id: view.instance_id,
        };
      }
      return {
        checks: await runChecks(view.config, view.nearby.ipv4 ?? view.private_ip),
        instance_id: view.instance_id,
      };
    },
  );
}
