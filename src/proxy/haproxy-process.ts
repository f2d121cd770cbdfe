/**
 * HAProxy as a child process in master-worker mode: started, watched, restarted with backoff when
 * it dies, reloaded hitlessly through the master CLI, and stopped cleanly. Its output goes to pino.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import { haproxyNotFound, haproxyReloadFailed, haproxyStartFailed } from './errors.ts';
import type { ProxyPaths } from './haproxy-config.ts';
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
  /** A file descriptor HAProxy gets as its fd 3, for the access log (access-log-config.ts). */
  logFd?: number;
}

const READY_TIMEOUT_MS = 15_000;
const POLL_MS = 25;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** A run this long resets the backoff: the crash was not a crash loop. */
const STABLE_MS = 30_000;

const stderrLevels: Record<string, 'info' | 'warn' | 'error'> = {
  NOTICE: 'info',
  WARNING: 'warn',
  ALERT: 'error',
};

export class HaproxyProcess {
  #options: HaproxyProcessOptions;
  #api: RuntimeApi;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stopping = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #startedAt = 0;
  #workerPid: number | undefined;
  #reloads = 0;
  #restarts = 0;
  #stderrTail: string[] = [];

  constructor(options: HaproxyProcessOptions) {
    this.#options = options;
    this.#api = new RuntimeApi(options.paths.adminSocket);
  }

  /** The pid of the worker serving the current configuration, when one does. */
  get workerPid(): number | undefined {
    return this.#workerPid;
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

  async #launch(): Promise<void> {
    const { bin, paths, log } = this.#options;
    await this.#options.prepare();
    if (this.#stopping) throw haproxyStartFailed('the proxy was stopped while starting');
    this.#stderrTail = [];
    await stopLeftover(paths.pidFile, paths.config, log);
    const child = spawn(
      bin,
      ['-W', '-db', '-f', paths.config, '-p', paths.pidFile, '-S', `${paths.masterSocket},mode,600`],
      {
        stdio: [
          'ignore',
          'pipe',
          'pipe',
          ...(this.#options.logFd === undefined ? [] : [this.#options.logFd]),
        ],
      },
    );
    this.#child = child;
    this.#startedAt = Date.now();
    process.once('exit', this.#killOnExit);
    const haproxyLog = log.child({ component: 'haproxy' });
    createInterface({ input: child.stdout! }).on('line', (line) => haproxyLog.info(line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      this.#stderrTail = [...this.#stderrTail, line].slice(-10);
      const match = /^\[(\w+)\]\s+\(\d+\) : (.*)$/.exec(line);
      if (match === null) haproxyLog.info(line);
      else haproxyLog[stderrLevels[match[1]] ?? 'info'](match[2]);
    });
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
    void this.#exited.then(() => this.#onExit(child, exitError));
    try {
      const pid = await Promise.race([
        this.#waitForWorker(() => true),
        this.#exited.then(() => {
          throw exitError;
        }),
      ]);
      this.#workerPid = pid;
      log.info({ pid: child.pid, worker: pid }, 'HAProxy started');
      this.#options.onReady(pid);
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

  /** If Node exits without `stop()`, HAProxy must not outlive it holding the public ports. */
  #killOnExit = () => this.#child?.kill('SIGTERM');

  #onExit(child: ChildProcess, error: Error | undefined) {
    process.removeListener('exit', this.#killOnExit);
    if (this.#child !== child) return;
    this.#child = undefined;
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
    if (this.#child === undefined) throw haproxyReloadFailed('HAProxy is not running');
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
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const child = this.#child;
    if (child === undefined) return;
    for (const [signal, waitMs] of [
      ['SIGUSR1', this.#options.drainMs ?? 10_000],
      ['SIGTERM', 2000],
      ['SIGKILL', 5000],
    ] as const) {
      child.kill(signal);
      const exited = await Promise.race([
        this.#exited.then(() => true),
        sleep(waitMs, undefined, { ref: false }).then(() => false),
      ]);
      if (exited) return;
    }
  }
}

/**
 * A HAProxy master still running from a nearby that was killed (SIGKILL leaves no chance to stop
 * it) holds our ports: stop it, if the pid file names a live HAProxy of this very config.
 */
async function stopLeftover(pidFile: string, config: string, log: pino.Logger): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('haproxy') || !cmdline.split('\0').includes(config)) return;
  log.warn({ pid }, 'stopping a HAProxy left running by an earlier nearby');
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {}
  };
  signal('SIGTERM');
  for (let waited = 0; waited < 5000; waited += 50) {
    if (!(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))) return;
    await sleep(50);
  }
  signal('SIGKILL');
  await sleep(100);
}
