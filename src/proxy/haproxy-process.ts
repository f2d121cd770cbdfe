/**
 * HAProxy in master-worker mode, in a session of its own: started, or adopted when a HAProxy of
 * this data dir still runs (nearby restarted, crashed or was upgraded); watched, restarted with
 * backoff when it dies, reloaded hitlessly through the master CLI, and stopped cleanly — or left
 * serving when nearby stops (`outliveNearby`), so the data plane outlives the control plane.
 * Its messages go to `haproxy.log`, which nearby follows into its own log while it runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { isAlive } from '../process-alive.ts';
import { haproxyNotFound, haproxyReloadFailed, haproxyStartFailed } from './errors.ts';
import type { ProxyPaths } from './haproxy-config.ts';
import {
  followOutput,
  openAccessLogFifo,
  openOutputFile,
  type Relay,
  relayAccessLog,
} from './haproxy-output.ts';
import { runningMaster, stopMaster } from './haproxy-pid.ts';
import { cliCommand, parseShowProc, RuntimeApi } from './runtime-api.ts';

export interface HaproxyProcessOptions {
  bin: string;
  paths: ProxyPaths;
  log: pino.Logger;
  /** Writes the current configuration; runs before every start and restart. */
  prepare: () => Promise<void>;
  /** A worker serves the configuration on disk (after a start, restart or reload). */
  onReady: (workerPid: number) => void;
  /** On stop, how long requests in flight may take before HAProxy is told to quit; default 10 s. */
  drainMs?: number;
  /** Where nearby copies HAProxy's access log (its fd 3, a FIFO) while it runs: 2 is nearby's stderr. */
  accessLogFd?: number;
  /**
   * HAProxy keeps serving the last routes when nearby stops or dies (`nearby server`); the next
   * start adopts it. Otherwise (library use, tests) it stops with nearby.
   */
  outliveNearby?: boolean;
}

const READY_TIMEOUT_MS = 15_000;
const POLL_MS = 25;
/** How often an adopted master (not nearby's child: no exit event) is checked for life. */
const WATCH_MS = 500;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A run this long resets the backoff: the crash was not a crash loop. */
const STABLE_MS = 30_000;
/** A start that failed at once: let the output file's last lines reach the log first. */
const FOLLOW_FLUSH_MS = 250;

const stderrLevels: Record<string, 'info' | 'warn' | 'error'> = {
  NOTICE: 'info',
  WARNING: 'warn',
  ALERT: 'error',
};

export class HaproxyProcess {
  #options: HaproxyProcessOptions;
  #api: RuntimeApi;
  /** The master's pid, whether nearby launched it or adopted it. */
  #masterPid: number | undefined;
  /** Resolves when the master exits (seen through the child's exit event or by polling). */
  #exited: Promise<void> = Promise.resolve();
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #watchTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #startedAt = 0;
  #workerPid: number | undefined;
  #reloads = 0;
  #restarts = 0;
  #stderrTail: string[] = [];
  #output: Relay | undefined;
  #accessLog: Relay | undefined;

  constructor(options: HaproxyProcessOptions) {
    this.#options = options;
    this.#api = new RuntimeApi(options.paths.adminSocket);
  }

  /** The pid of the worker serving the current configuration, when one does. */
  get workerPid(): number | undefined {
    return this.#workerPid;
  }

  /** The master's pid, when HAProxy runs. */
  get masterPid(): number | undefined {
    return this.#masterPid;
  }

  get reloads(): number {
    return this.#reloads;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** Starts HAProxy and resolves when its worker answers. A failure is retried in the background too. */
  async start(): Promise<void> {
    try {
      await this.#launch();
    } catch (error) {
      this.#scheduleRestart();
      throw error;
    }
  }

  /**
   * Takes over a HAProxy of this data dir left running by an earlier nearby: its master answers,
   * and a worker serves. Returns the worker's pid, or undefined when there is none to adopt (a
   * master that does not answer is stopped: `start()` replaces it).
   */
  async adopt(): Promise<number | undefined> {
    const { paths, log } = this.#options;
    const pid = await runningMaster(paths);
    if (pid === undefined) return undefined;
    try {
      const proc = parseShowProc(await cliCommand(paths.masterSocket, 'show proc', { timeoutMs: 2000 }));
      const worker = proc.workers[0];
      if (proc.master?.pid !== pid || worker === undefined) throw new Error('no worker in show proc');
      if ((await this.#api.pid()) !== worker.pid) throw new Error("the admin socket is not the worker's");
      this.#masterPid = pid;
      this.#workerPid = worker.pid;
      this.#startedAt = Date.now();
      this.#exited = this.#watch(pid);
      void this.#exited.then(() => this.#onExit(pid, new Error('the adopted HAProxy exited')));
      await this.#relay();
      log.info({ pid, worker: worker.pid, reloads: proc.master.reloads }, 'HAProxy adopted: it kept serving');
      return worker.pid;
    } catch (error) {
      log.warn({ pid, err: errorMessage(error) }, 'a HAProxy of this data dir does not answer; replacing it');
      await stopMaster(pid, log);
      return undefined;
    }
  }

  /** Polls an adopted master: it is not nearby's child, so no exit event tells. */
  #watch(pid: number): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!isAlive(pid)) return resolve();
        if (this.#masterPid === pid) this.#watchTimer = setTimeout(check, WATCH_MS).unref();
        else resolve();
      };
      this.#watchTimer = setTimeout(check, WATCH_MS).unref();
    });
  }

  /** Follows HAProxy's messages and copies its access log while nearby runs. */
  async #relay() {
    const { paths, log, accessLogFd } = this.#options;
    this.#output?.close();
    const haproxyLog = log.child({ component: 'haproxy' });
    this.#output = await followOutput(paths.outputLog, (line) => this.#logLine(haproxyLog, line));
    this.#accessLog?.close();
    this.#accessLog =
      accessLogFd === undefined
        ? undefined
        : await relayAccessLog(paths.accessLogFifo, accessLogFd, paths.accessLogRelayPid);
  }

  #logLine(haproxyLog: pino.Logger, line: string) {
    this.#stderrTail = [...this.#stderrTail, line].slice(-10);
    const match = /^\[(\w+)\]\s+\(\d+\) : (.*)$/.exec(line);
    if (match === null) haproxyLog.info(line);
    else haproxyLog[stderrLevels[match[1]] ?? 'info'](match[2]);
  }

  async #launch(): Promise<void> {
    const { bin, paths, log } = this.#options;
    await this.#options.prepare();
    if (this.#stopping) throw haproxyStartFailed('the proxy was stopped while starting');
    this.#stderrTail = [];
    const leftover = await runningMaster(paths);
    if (leftover !== undefined) await stopMaster(leftover, log);
    await this.#relay();
    const outputFd = openOutputFile(paths.outputLog);
    const accessFd = await openAccessLogFifo(paths.accessLogFifo);
    let child: ChildProcess;
    try {
      // A session of its own: a Ctrl-C or a kill of nearby's process group does not reach it.
      child = spawn(
        bin,
        ['-W', '-db', '-f', paths.config, '-p', paths.pidFile, '-S', `${paths.masterSocket},mode,600`],
        { detached: true, stdio: ['ignore', outputFd, outputFd, accessFd] },
      );
    } finally {
      closeSync(outputFd);
      closeSync(accessFd);
    }
    child.unref();
    const pid = child.pid;
    this.#masterPid = pid;
    this.#startedAt = Date.now();
    if (!this.#options.outliveNearby) process.once('exit', this.#killOnExit);
    let exitError: Error | undefined;
    this.#exited = new Promise((resolve) => {
      child.once('error', (error) => {
        exitError = (error as NodeJS.ErrnoException).code === 'ENOENT' ? haproxyNotFound(bin, error) : error;
        resolve();
      });
      child.once('exit', (code, signal) => {
        exitError ??= new Error(`exited with ${signal ?? `code ${code}`}`);
        resolve();
      });
    });
    void this.#exited.then(() => this.#onExit(pid, exitError));
    try {
      const worker = await Promise.race([
        this.#waitForWorker(() => true),
        this.#exited.then(async () => {
          await sleep(FOLLOW_FLUSH_MS); // its last words, for the error
          throw exitError;
        }),
      ]);
      this.#workerPid = worker;
      log.info({ pid, worker }, 'HAProxy started');
      this.#options.onReady(worker);
    } catch (error) {
      child.kill('SIGKILL');
      throw haproxyStartFailed(`${errorMessage(error)}${this.#alerts()}`, error);
    }
  }

  /** HAProxy's last alerts, which say why it failed (`; cannot bind socket …`). */
  #alerts(): string {
    const alerts = this.#stderrTail
      .map((line) => /^\[ALERT\]\s+\(\d+\) : (.*)$/.exec(line)?.[1])
      .filter((alert) => alert !== undefined);
    return alerts.length === 0 ? '' : `: ${alerts.join('; ')}`;
  }

  /** Library use: if Node exits without `stop()`, HAProxy must not outlive it holding the ports. */
  #killOnExit = () => {
    if (this.#masterPid === undefined) return;
    try {
      process.kill(this.#masterPid, 'SIGTERM');
    } catch {}
  };

  #onExit(pid: number | undefined, error: Error | undefined) {
    process.removeListener('exit', this.#killOnExit);
    if (this.#masterPid !== pid) return;
    this.#masterPid = undefined;
    this.#workerPid = undefined;
    if (this.#stopping) return;
    this.#options.log.error({ err: error?.message, tail: this.#stderrTail }, 'HAProxy exited; restarting it');
    this.#scheduleRestart();
  }

  #scheduleRestart() {
    if (this.#stopping || this.#restartTimer !== undefined) return;
    if (Date.now() - this.#startedAt > STABLE_MS) this.#failures = 0;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.#failures);
    this.#failures++;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.#restarts++;
      this.#launch().catch((error) => {
        this.#options.log.error({ err: errorMessage(error), delayMs: delay }, 'HAProxy restart failed');
        this.#scheduleRestart();
      });
    }, delay);
    this.#restartTimer.unref();
  }

  /**
   * Polls the master CLI until a current worker passes `accept`, then until the admin socket is
   * served by that worker (not by an old one still finishing its requests). Returns its pid.
   */
  async #waitForWorker(accept: (pid: number, failedReloads: number) => boolean): Promise<number> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && !this.#stopping) {
      try {
        const proc = parseShowProc(await cliCommand(this.#options.paths.masterSocket, 'show proc'));
        const worker = proc.workers[0];
        if (worker !== undefined && accept(worker.pid, proc.master?.failedReloads ?? 0)) {
          if ((await this.#api.pid()) === worker.pid) return worker.pid;
        }
      } catch {
        // Sockets appear while HAProxy starts or re-executes: try again.
      }
      await sleep(POLL_MS);
    }
    throw new Error(
      this.#stopping ? 'stopped while waiting' : `no worker answered within ${READY_TIMEOUT_MS} ms`,
    );
  }

  /** Hitless reload: the master re-reads the configuration on disk and hands the listeners over. */
  async reload(): Promise<number> {
    if (this.#masterPid === undefined) throw haproxyReloadFailed('HAProxy is not running');
    const { masterSocket } = this.#options.paths;
    const before = parseShowProc(await cliCommand(masterSocket, 'show proc'));
    const oldPids = new Set(before.workers.map((worker) => worker.pid));
    const failedBefore = before.master?.failedReloads ?? 0;
    await cliCommand(masterSocket, 'reload');
    let failed = false;
    const pid = await this.#waitForWorker((workerPid, failedReloads) => {
      failed = failedReloads > failedBefore;
      return failed || !oldPids.has(workerPid);
    }).catch((error) => {
      throw haproxyReloadFailed(errorMessage(error), error);
    });
    if (failed)
      throw haproxyReloadFailed(`the master refused the new configuration; ${this.#stderrTail.join(' | ')}`);
    this.#reloads++;
    this.#workerPid = pid;
    this.#options.log.info({ worker: pid, reloads: this.#reloads }, 'HAProxy reloaded');
    this.#options.onReady(pid);
    return pid;
  }

  /**
   * Soft stop: HAProxy closes its listeners at once, finishes the requests in flight and exits;
   * harder signals follow if that takes longer than `drainMs`.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#quiet();
    const pid = this.#masterPid;
    if (pid === undefined) return;
    for (const [signal, waitMs] of [
      ['SIGUSR1', this.#options.drainMs ?? 10_000],
      ['SIGTERM', 2000],
      ['SIGKILL', 5000],
    ] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        return; // already gone
      }
      const exited = await Promise.race([
        this.#exited.then(() => true),
        sleep(waitMs, undefined, { ref: false }).then(() => false),
      ]);
      if (exited) return;
    }
  }

  /** nearby stops, HAProxy goes on serving the last routes; the next nearby adopts it. */
  detach(): void {
    this.#stopping = true;
    this.#quiet();
    process.removeListener('exit', this.#killOnExit);
    if (this.#masterPid !== undefined)
      this.#options.log.info(
        { pid: this.#masterPid },
        'HAProxy keeps serving the last routes; the next start adopts it (`nearby host clean` stops it)',
      );
  }

  #quiet() {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    clearTimeout(this.#watchTimer);
    this.#output?.close();
    this.#accessLog?.close();
  }
}
