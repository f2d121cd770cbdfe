/**
 * The activator (DESIGN.md §4): the backup server of every app's HTTP backend. HAProxy sends it a
 * request only when the app has no machine in rotation; it starts the nearest suspended or stopped
 * machine (one wake per app at a time), holds the request until the machine accepts connections,
 * and forwards it there itself. The proxy's sync then puts the machine into HAProxy, so only cold
 * requests ever reach Node.
 */
import http from 'node:http';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { listenOnLoopback } from '../loopback-server.ts';
import type { MachineRecord, MachineStatus } from '../model/machine.ts';
import { pickWakeCandidate } from './activator-pick.ts';
import { waitForListener } from './activator-probe.ts';

/** What the proxy may ask of the control plane: it never writes machine records itself. */
export interface MachineControl {
  start(app: string, id: string, reason: 'request'): Promise<void>;
  stop(app: string, id: string, options: { suspend: boolean; reason: 'idle' }): Promise<void>;
}

export interface MachineEntry {
  record: MachineRecord;
  status: MachineStatus | undefined;
}

export interface ActivatorOptions {
  control: MachineControl;
  /** The app a request's Host header routes to (undefined: not an app of this proxy). */
  appOf(host: string): string | undefined;
  /** The app's machines with their latest status, as the proxy sees them now. */
  machinesOf(app: string): MachineEntry[];
  region: string;
  /** How long a request may wait for a machine to listen before a 503. */
  wakeTimeoutMs: number;
  /** The loopback port to take when free (the one a running HAProxy names); else any. */
  port?: number;
  /** Told when a stopped or suspended machine was started for a request and listens. */
  onWake?(app: string, machine: string): void;
  /** Told when a request reached a machine through the activator (so autostop sees it as busy). */
  onForward?(app: string, machine: string): void;
  log: pino.Logger;
}

export interface Activator {
  /** Where HAProxy reaches it (loopback). */
  address: { host: string; port: number };
  close(): Promise<void>;
}

export const defaultWakeTimeoutMs = 10_000;
/** Its HAProxy server name in every backend it backs (machine ids are hex, so never this). */
export const ACTIVATOR_SERVER = 'nearby_activator';

/** Where a held request goes once its machine listens. */
interface WakeTarget {
  machine: string;
  address: string;
  port: number;
}

class WakeFailed extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds = 1) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export async function startActivator(options: ActivatorOptions): Promise<Activator> {
  const { log } = options;
  /** app → the wake in progress; requests behind the first one wait on the same promise. */
  const wakes = new Map<string, Promise<WakeTarget>>();

  async function wake(app: string): Promise<WakeTarget> {
    const started = Date.now();
    const deadline = started + options.wakeTimeoutMs;
    const machines = options.machinesOf(app).filter((entry) => entry.record.region === options.region);
    const candidate = pickWakeCandidate(machines);
    if (candidate === undefined) {
      throw new WakeFailed(`app '${app}' has no machine here that can be started for this request`, 5);
    }
    const { record, status, port } = candidate;
    if (candidate.needsStart) {
      log.info(
        { app, machine: record.id, state: status?.state, reason: 'request' },
        'waking machine for a request',
      );
      await options.control.start(app, record.id, 'request');
    }
    const address = await waitForAddress(app, record.id, deadline);
    const listening = await waitForListener(address, port, deadline, () =>
      failedSince(app, record.id, started),
    );
    if (listening !== true) {
      throw new WakeFailed(
        `app '${app}': machine ${record.id} did not accept connections on port ${port} within ${options.wakeTimeoutMs} ms${listening === false ? '' : ` (${listening})`}`,
      );
    }
    if (candidate.needsStart) options.onWake?.(app, record.id);
    log.info({ app, machine: record.id, ms: Date.now() - started, from: status?.state }, 'machine woke');
    return { machine: record.id, address, port };
  }

  /**
   * The machine's IPv4 (kept while stopped; set by the agent on first prepare), once it is not
   * stopping: the process on its way out may still accept a connection it will never answer.
   */
  async function waitForAddress(app: string, id: string, deadline: number): Promise<string> {
    for (;;) {
      const status = options.machinesOf(app).find((candidate) => candidate.record.id === id)?.status;
      if (status?.ipv4 !== undefined && status.state !== 'stopping') return status.ipv4;
      if (Date.now() > deadline) throw new WakeFailed(`app '${app}': machine ${id} has no address yet`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** A reason to stop waiting early: the agent reported the start failed. */
  function failedSince(app: string, id: string, since: number): string | undefined {
    const status = options.machinesOf(app).find((entry) => entry.record.id === id)?.status;
    if (status?.state === 'failed' && Date.parse(status.updated_at) >= since) {
      return status.error ?? 'the machine failed to start';
    }
    return undefined;
  }

  function target(app: string): Promise<WakeTarget> {
    let pending = wakes.get(app);
    if (pending === undefined) {
      pending = wake(app).finally(() => wakes.delete(app));
      wakes.set(app, pending);
    }
    return pending;
  }

  const server = http.createServer((request, response) => {
    const host = (request.headers.host ?? '').split(':')[0].toLowerCase();
    const app = options.appOf(host);
    if (app === undefined) {
      unavailable(response, `no app answers at '${host}'`, 5);
      return;
    }
    target(app).then(
      (wakeTarget) => forward(app, wakeTarget, request, response),
      (error: unknown) => {
        const retryAfter = error instanceof WakeFailed ? error.retryAfterSeconds : 1;
        log.warn({ app, err: errorMessage(error) }, 'could not wake a machine; answered 503');
        unavailable(response, errorMessage(error), retryAfter);
      },
    );
  });

  function forward(
    app: string,
    wakeTarget: WakeTarget,
    request: http.IncomingMessage,
    response: http.ServerResponse,
  ) {
    options.onForward?.(app, wakeTarget.machine);
    const upstream = http.request(
      {
        host: wakeTarget.address,
        port: wakeTarget.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
        // A fresh connection each: a pooled one may belong to an earlier run of the machine, and
        // only the few requests held during a wake come this way.
        agent: false,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', (error) => {
      log.warn(
        { app, machine: wakeTarget.machine, err: errorMessage(error) },
        'forwarding a woken request failed',
      );
      if (!response.headersSent) unavailable(response, `app '${app}': the woken machine did not answer`, 1);
      else response.destroy();
    });
    request.pipe(upstream);
  }

  // HAProxy keeps connections to its servers open between requests.
  const listener = await listenOnLoopback(server, 65_000, options.port);
  log.debug({ port: listener.port }, 'activator listening');
  return { address: { host: listener.host, port: listener.port }, close: listener.close };
}

function unavailable(response: http.ServerResponse, message: string, retryAfterSeconds: number) {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(503, {
    'content-type': 'text/plain; charset=utf-8',
    'retry-after': String(retryAfterSeconds),
    'cache-control': 'no-store',
  });
  response.end(`503 service unavailable: ${message}; try again shortly\n`);
}
