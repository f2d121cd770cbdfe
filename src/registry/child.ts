/**
 * Runs Debian's `docker-registry` as a child of `nearby server`: restarted with backoff when it dies,
 * stopped with the server. `setpriv --pdeathsig` makes the kernel stop it if the server is killed
 * outright, and a pid file lets the next start remove one left over anyway.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';
const SETPRIV = '/usr/bin/setpriv';
const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
/** A child that ran this long before dying is restarted at once, not after a long backoff. */
const HEALTHY_RUN_MS = 30_000;

export interface RegistryChildLog {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
  debug(object: object, message?: string): void;
}

export interface RegistryChild {
  stop(): Promise<void>;
}

export function superviseRegistry(options: {
  configPath: string;
  pidFile: string;
  log: RegistryChildLog;
  binary?: string;
}): RegistryChild {
  const binary = options.binary ?? REGISTRY_BINARY;
  const { log } = options;
  let child: ChildProcess | undefined;
  let stopping = false;
  const stopped = new AbortController();

  const runOnce = () =>
    new Promise<{ code: number | null; signal: string | null; output: string }>((resolve) => {
      const [file, args] = existsSync(SETPRIV)
        ? [SETPRIV, ['--pdeathsig', 'SIGTERM', '--', binary, 'serve', options.configPath]]
        : [binary, ['serve', options.configPath]];
      const spawned = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = spawned;
      let output = '';
      const onData = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
          output = `${output}${line}\n`.slice(-2000);
          const level = /level=(\w+)/.exec(line)?.[1] ?? 'info';
          const message = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line;
          if (['error', 'fatal', 'panic'].includes(level)) log.error({ registry: message }, 'registry error');
          // Every client's first, anonymous request is refused with a warning: that is the token flow.
          else if (level === 'warning' && !message.startsWith('error authorizing context'))
            log.warn({ registry: message }, 'registry warning');
          else log.debug({ registry: message }, 'registry');
        }
      };
      spawned.stdout?.on('data', onData);
      spawned.stderr?.on('data', onData);
      spawned.on('error', (error) => {
        output += error.message;
      });
      if (spawned.pid) writeFile(options.pidFile, `${spawned.pid}\n`).catch(() => {});
      spawned.on('close', (code, signal) => resolve({ code, signal, output }));
    });

  const loop = (async () => {
    await removeLeftover(options.pidFile, options.configPath, log);
    let backoff = MIN_BACKOFF_MS;
    while (!stopping) {
      const started = Date.now();
      const result = await runOnce();
      if (stopping) break;
      if (Date.now() - started > HEALTHY_RUN_MS) backoff = MIN_BACKOFF_MS;
      log.error(
        {
          code: result.code,
          signal: result.signal,
          output: result.output.trim().slice(-500),
          retryMs: backoff,
        },
        `the registry (docker-registry) exited; restarting it in ${backoff} ms`,
      );
      await delay(backoff, undefined, { signal: stopped.signal }).catch(() => {});
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  })();

  return {
    async stop() {
      stopping = true;
      stopped.abort();
      const running = child;
      if (running && running.exitCode === null && running.signalCode === null) {
        const exited = new Promise((resolve) => running.once('close', resolve));
        running.kill('SIGTERM');
        const timer = setTimeout(() => running.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await loop;
      await rm(options.pidFile, { force: true });
    },
  };
}

/** Stops a registry a killed server left running on our config, so the new one can bind its port. */
async function removeLeftover(pidFile: string, configPath: string, log: RegistryChildLog): Promise<void> {
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!pid) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (!cmdline.includes('docker-registry') || !cmdline.includes(configPath)) return;
  log.warn({ pid }, 'stopping a registry left running by a previous server');
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await delay(100);
  if (existsSync(`/proc/${pid}`)) process.kill(pid, 'SIGKILL');
}
