/**
 * The activator (DESIGN.md §4): the backup server of every app's HTTP backend. HAProxy sends it a
 * request only when the app has no machine in rotation; it starts the nearest suspended or stopped
 * machine (one wake per app at a time): this host's, else this region's, else the nearest region's.
 * It holds the request until the machine accepts connections and forwards it there itself — a
 * machine on another host through that host's proxy (the backhaul). The proxy's sync then puts the
 * machine into HAProxy, so only cold requests ever reach Node.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type pino from 'pino';
import { errorMessage, isNearbyError } from '../errors.ts';
import { listenOnLoopback } from '../loopback-server.ts';
import type { MachineRecord, MachineStatus } from '../model/machine.ts';
import { markStartStep } from '../start-steps.ts';
import { pickWakeCandidate, type WakeCandidate } from './activator-pick.ts';
import { connectWhenListening, probe } from './activator-probe.ts';
import { backhaulRequest } from './backhaul-client.ts';
import type { ListenAddress } from './haproxy-config.ts';
import type { Location } from './placement.ts';

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
  /** The app's machines with their latest status, as the proxy sees them now (every host's). */
  machinesOf(app: string): MachineEntry[];
  /**
   * In a cluster: where a machine is reached from here (placement.ts), undefined when its host's
   * proxy is not alive. Without it every machine is on this host.
   */
  locate?(record: MachineRecord): Location | undefined;
  /** The TLS agent of the backhaul (with `locate`): how Node reaches other hosts' proxies. */
  backhaulAgent?: https.Agent;
  region: string;
  /** How long a request may wait for a machine to listen before a 503. */
  wakeTimeoutMs: number;
  /** The loopback port to take when free (the one a running HAProxy names); else any. */
  port?: number;
  /** Told when a stopped or suspended machine was started for a request and listens. */
  onWake?(app: string, machine: string): void;
  /**
   * Told how long a wake of one of the app's machines took (`tier` from placement.ts; 0 without a
   * cluster); a failed wake is told as the whole wake timeout. Feeds wake-times.ts.
   */
  onWakeTimed?(app: string, tier: number, ms: number): void;
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
/** A frozen machine's kernel accepts a connect at once: this only bounds a lost one. */
const EARLY_PROBE_TIMEOUT_MS = 100;
/** Its HAProxy server name in every backend it backs (machine ids are hex, so never this). */
export const ACTIVATOR_SERVER = 'nearby_activator';

/** Where a held request goes once its machine listens: the machine, or its host's backhaul. */
interface WakeTarget {
  machine: string;
  address: string;
  port: number;
  /** Through this proxy's backhaul (TLS), by the request's Host: the machine is on another host. */
  via?: ListenAddress;
}

/** Methods that change nothing on the machine (RFC 9110 §9.2.1). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** A machine that takes connections now, and the control plane's answer to the start asked of it. */
interface Woken {
  target: WakeTarget;
  /**
   * Settles when the API has taken the start (at once when none was asked). A suspended machine's
   * socket accepts connections while frozen, so the held requests that change nothing are
   * forwarded before this settles, and answered when the agent thaws it; if the start is refused,
   * they get the refusal. Other requests wait for it.
   */
  asked: Promise<void>;
  /** The readiness probe's connection to a machine on this host: the first forward takes it. */
  probed?: Socket;
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
  const wakes = new Map<string, Promise<Woken>>();

  async function wake(app: string): Promise<Woken> {
    const started = Date.now();
    const deadline = started + options.wakeTimeoutMs;
    const locate = options.locate;
    const machines = options.machinesOf(app);
    const candidate = pickWakeCandidate(
      locate === undefined ? machines.filter((entry) => entry.record.region === options.region) : machines,
      locate === undefined ? undefined : (record) => locate(record)?.tier,
    );
    if (candidate === undefined) {
      throw new WakeFailed(`app '${app}' has no machine that can be started for this request`, 5);
    }
    const timed = (ms: number) => {
      if (candidate.needsStart) options.onWakeTimed?.(app, candidate.tier, ms);
    };
    try {
      const woken = await wakeCandidate(app, candidate, started, deadline);
      // A wake's time is until the machine takes connections and the API has taken the start.
      woken.asked.then(
        () => timed(Date.now() - started),
        () => timed(options.wakeTimeoutMs),
      );
      return woken;
    } catch (error) {
      timed(options.wakeTimeoutMs);
      throw error;
    }
  }

  async function wakeCandidate(
    app: string,
    candidate: WakeCandidate,
    started: number,
    deadline: number,
  ): Promise<Woken> {
    const { record, status, port } = candidate;
    const via = options.locate?.(record)?.via;
    let asked: Promise<void> = Promise.resolve();
    /** Set when the API refused the start: the waits below stop and throw it. */
    let refusal: { error: unknown } | undefined;
    // A suspended machine on this host accepts connections while frozen (in the kernel): connect
    // as the start is asked, so the first held request is on its socket when the agent thaws it,
    // instead of waiting for a busy event loop (the API's and the agent's work for this very start,
    // in `nearby server`) to get round to a connect. One try; if refused, probed below.
    const connecting =
      via === undefined && candidate.needsStart && status?.state === 'suspended' && status.ipv4 !== undefined
        ? probe(status.ipv4, port, EARLY_PROBE_TIMEOUT_MS)
        : undefined;
    if (candidate.needsStart) {
      log.info(
        { app, machine: record.id, host: record.host, state: status?.state, reason: 'request' },
        'waking machine for a request',
      );
      markStartStep(record.id, 'activator-asks');
      asked = options.control.start(app, record.id, 'request').then(
        () => markStartStep(record.id, 'activator-asked'),
        (error: unknown) => {
          refusal = { error };
          throw error;
        },
      );
      asked.catch(() => {}); // answered by whoever forwards or waits: never an unhandled rejection
    }
    const early = await connecting;
    if (early !== undefined) markStartStep(record.id, 'activator-listening');
    if (via !== undefined) {
      // Another host's machine: its own proxy forwards to it (and holds the request if the machine
      // is not in its HAProxy yet); this one waits until the machine's agent reports it started.
      await asked;
      await waitForStarted(app, record, deadline, started);
      if (candidate.needsStart) options.onWake?.(app, record.id);
      log.info(
        { app, machine: record.id, host: record.host, ms: Date.now() - started, from: status?.state },
        'machine woke',
      );
      return { target: { machine: record.id, address: via.host, port: via.port, via }, asked };
    }
    // A machine on this host is probed while the API call is under way, not after it: a suspended
    // one accepts connections while frozen (in the kernel), so its held requests are on its socket
    // before the agent thaws it, and the API's answer (~2–3 ms on a busy host) is off their path.
    const throwIfRefused = () => {
      if (refusal !== undefined) throw refusal.error;
    };
    const address = early?.remoteAddress ?? (await waitForAddress(app, record.id, deadline, throwIfRefused));
    markStartStep(record.id, 'activator-address');
    const listening =
      early ??
      (await connectWhenListening(address, port, deadline, () =>
        refusal !== undefined ? 'the start was refused' : failedSince(app, record.id, started),
      ));
    if (early === undefined && typeof listening === 'object') markStartStep(record.id, 'activator-listening');
    if (refusal !== undefined) {
      if (typeof listening === 'object') listening.destroy();
      throw refusal.error;
    }
    if (typeof listening !== 'object') {
      throw new WakeFailed(
        `app '${app}': machine ${record.id} did not accept connections on port ${port} within ${options.wakeTimeoutMs} ms${listening === false ? '' : ` (${listening})`}`,
      );
    }
    if (candidate.needsStart) options.onWake?.(app, record.id);
    log.info({ app, machine: record.id, ms: Date.now() - started, from: status?.state }, 'machine woke');
    return { target: { machine: record.id, address, port }, asked, probed: listening };
  }

  /**
   * The machine's IPv4 (kept while stopped; set by the agent on first prepare), once it is not
   * stopping: the process on its way out may still accept a connection it will never answer.
   */
  async function waitForAddress(
    app: string,
    id: string,
    deadline: number,
    throwIfRefused: () => void,
  ): Promise<string> {
    for (;;) {
      const status = options.machinesOf(app).find((candidate) => candidate.record.id === id)?.status;
      if (status?.ipv4 !== undefined && status.state !== 'stopping') return status.ipv4;
      throwIfRefused();
      if (Date.now() > deadline) throw new WakeFailed(`app '${app}': machine ${id} has no address yet`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Until the machine's agent reports this version started (or failed, or the deadline). */
  async function waitForStarted(app: string, record: MachineRecord, deadline: number, since: number) {
    for (;;) {
      const status = options.machinesOf(app).find((entry) => entry.record.id === record.id)?.status;
      if (status?.state === 'started' && status.instance_id === record.instance_id) return;
      const failed = failedSince(app, record.id, since);
      if (failed !== undefined) throw new WakeFailed(`app '${app}': machine ${record.id}: ${failed}`);
      if (Date.now() > deadline)
        throw new WakeFailed(
          `app '${app}': machine ${record.id} on host ${record.host} was not started within ${options.wakeTimeoutMs} ms`,
        );
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

  function woken(app: string): Promise<Woken> {
    let pending = wakes.get(app);
    if (pending === undefined) {
      const current = wake(app);
      wakes.set(app, current);
      // One wake until the machine takes connections and the API has answered the start: a request
      // in between joins it rather than asking for a second start.
      current
        .then((done) => done.asked)
        .catch(() => {})
        .finally(() => {
          if (wakes.get(app) === current) wakes.delete(app);
        });
      pending = current;
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
    woken(app).then(
      (done) => {
        if (SAFE_METHODS.has(request.method ?? '')) {
          forward(app, done, request, response);
          return;
        }
        // Only a request that changes nothing goes to a frozen machine before its start is taken:
        // sent, then refused (402), another would still run when the machine is next thawed, after
        // its user was told it did not. Refused, the probe's connection goes too.
        done.asked.then(
          () => forward(app, done, request, response),
          (error: unknown) => {
            done.probed?.destroy();
            done.probed = undefined;
            wakeRefused(app, error, response);
          },
        );
      },
      (error: unknown) => wakeRefused(app, error, response),
    );
  });

  function wakeRefused(app: string, error: unknown, response: http.ServerResponse) {
    if (isNearbyError(error, 'BUDGET_EXCEEDED')) {
      // The edge answers these itself once its map has the app (budget-levels.ts); until then, here.
      log.info({ app }, 'wake refused: the org reached its spending cap; answered 402');
      paymentRequired(response, error.message, error.hint);
      return;
    }
    const retryAfter = error instanceof WakeFailed ? error.retryAfterSeconds : 1;
    log.warn({ app, err: errorMessage(error) }, 'could not wake a machine; answered 503');
    unavailable(response, errorMessage(error), retryAfter);
  }

  function forward(app: string, done: Woken, request: http.IncomingMessage, response: http.ServerResponse) {
    const wakeTarget = done.target;
    const probed = done.probed?.destroyed === false ? done.probed : undefined;
    done.probed = undefined;
    options.onForward?.(app, wakeTarget.machine);
    markStartStep(wakeTarget.machine, 'activator-forwards');
    let answered = false;
    /** Set when the start was refused after the request went to the (frozen) machine. */
    let withdrawn = false;
    const reply = (answer: http.IncomingMessage) => {
      answered = true;
      markStartStep(wakeTarget.machine, 'activator-answered');
      response.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
      answer.pipe(response);
    };
    const base = { method: request.method, path: request.url, headers: request.headers };
    const upstream =
      wakeTarget.via !== undefined && options.backhaulAgent !== undefined
        ? // The machine's host's proxy routes it by Host to its own machine, and counts it there.
          https.request(backhaulRequest(options.backhaulAgent, wakeTarget.via, base), reply)
        : http.request(
            {
              ...base,
              host: wakeTarget.address,
              port: wakeTarget.port,
              // A fresh connection each: a pooled one may belong to an earlier run of the machine, and
              // only the few requests held during a wake come this way. The first one takes the
              // connection the probe made, already open.
              ...(probed !== undefined ? { createConnection: () => probed } : { agent: false }),
            },
            reply,
          );
    done.asked.catch((error: unknown) => {
      if (answered) return; // the machine answered: someone else's start woke it
      withdrawn = true;
      wakeRefused(app, error, response);
      upstream.destroy();
    });
    upstream.on('error', (error) => {
      if (withdrawn) return;
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

function paymentRequired(response: http.ServerResponse, message: string, hint: string | undefined) {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(402, {
    'content-type': 'text/plain; charset=utf-8',
    'retry-after': '60',
    'cache-control': 'no-store',
  });
  response.end(`402 payment required: ${message}${hint ? `; ${hint}` : ''}\n`);
}
