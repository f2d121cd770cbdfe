/**
 * Finding the HAProxy master of a data dir (its pid file, checked against /proc so a reused pid
 * is never taken for it) and stopping it: what adoption and `nearby host clean` need.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type pino from 'pino';
import type { ProxyPaths } from './haproxy-config.ts';
import { stopLeftoverRelay } from './haproxy-output.ts';

/** The pid of a live HAProxy master running this data dir's configuration, if there is one. */
export async function runningMaster(
  paths: Pick<ProxyPaths, 'pidFile' | 'config'>,
): Promise<number | undefined> {
  const pid = Number((await readFile(paths.pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return undefined;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const args = cmdline.split('\0');
  if (!args[0]?.includes('haproxy') || !args.includes(paths.config)) return undefined;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (/\) Z /.test(stat)) return undefined;
  return pid;
}

/** SIGTERM (HAProxy stops at once), then SIGKILL after 5 s. Resolves when it is gone. */
export async function stopMaster(pid: number, log?: pino.Logger): Promise<void> {
  log?.warn({ pid }, 'stopping HAProxy');
  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {}
  };
  signal('SIGTERM');
  for (let waited = 0; waited < 5000; waited += 50) {
    if (!(await isHaproxy(pid))) return;
    await sleep(50);
  }
  signal('SIGKILL');
  for (let waited = 0; waited < 2000 && (await isHaproxy(pid)); waited += 50) await sleep(50);
}

async function isHaproxy(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return cmdline.includes('haproxy') && !/\) Z /.test(stat);
}

/** `nearby host clean`: stops the data dir's HAProxy, if one runs, and its log relay. Returns its pid. */
export async function stopDataDirHaproxy(
  paths: Pick<ProxyPaths, 'pidFile' | 'config' | 'accessLogFifo' | 'accessLogRelayPid'>,
): Promise<number | undefined> {
  const pid = await runningMaster(paths);
  if (pid !== undefined) await stopMaster(pid);
  await stopLeftoverRelay(paths.accessLogRelayPid, paths.accessLogFifo);
  return pid;
}
