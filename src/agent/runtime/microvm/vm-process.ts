/**
 * A microVM as host processes: QEMU launched under the shim (native/shim.c), found again from its
 * pid file after a restart of nearby, waited for, and how it ended (the guest init's report of
 * the entrypoint when there is one, else QEMU's own exit).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { NearbyError } from '../../../errors.ts';
import { liveShimPid, readExit, type ShimFiles, shimFiles } from '../shim.ts';
import type { ExitInfo, SandboxStats } from '../types.ts';
import { vmFiles } from './qemu.ts';

const CLOCK_TICKS_PER_SECOND = 100;

export function signalNumber(signal: string): number {
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as keyof typeof constants.signals;
  const number = constants.signals[name];
  if (!number) {
    throw new NearbyError('INVALID_SIGNAL', `'${signal}' is not a signal name`, {
      status: 400,
      hint: 'Use a name such as SIGTERM, SIGINT or SIGKILL.',
    });
  }
  return number;
}

/** A stable locally administered MAC per machine, so the host's neighbour cache stays right. */
export function macFor(id: string): string {
  const bytes = createHash('sha256').update(id).digest().subarray(0, 3);
  return ['52', '54', '00', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function isQemu(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]?.includes('qemu') === true;
  } catch {
    return false;
  }
}

/** QEMU's pid while the VM of the machine dir runs (its shim alive, no exit recorded). */
export function liveQemuPid(dir: string): number | undefined {
  const files = shimFiles(dir);
  if (!existsSync(files.containerPid) || !liveShimPid(files) || existsSync(files.exit)) return undefined;
  const pid = Number(readFileSync(files.containerPid, 'utf8').trim() || 0);
  return pid > 0 && isQemu(pid) ? pid : undefined;
}

/** Runs the shim around `command` (QEMU with -daemonize); resolves with the shim's exit code once
 *  QEMU has daemonized (0) or failed (2, its message in the log). */
export function launchUnderShim(
  shimPath: string,
  files: ShimFiles,
  command: string[],
): Promise<number | null> {
  const args = [
    ...['--pid-file', files.shimPid, '--exit-file', files.exit, '--log', files.log],
    ...['--container-pid-file', files.containerPid, '--', ...command],
  ];
  const launcher = spawn(shimPath, args, { stdio: 'ignore', detached: true, timeout: 60_000 });
  return new Promise((resolve, reject) => {
    launcher.on('error', reject);
    launcher.on('close', resolve);
  });
}

export async function waitForExit(dir: string, timeoutMs: number): Promise<boolean> {
  const files = shimFiles(dir);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(files.exit) || !liveShimPid(files)) return true;
    await sleep(20);
  }
  return existsSync(files.exit);
}

/** How the machine ended: the guest init's report of the entrypoint, else how QEMU ended. */
export async function exitInfo(dir: string): Promise<ExitInfo | undefined> {
  const qemuExit = await readExit(shimFiles(dir));
  if (!qemuExit) return undefined;
  const guest = (await readFile(vmFiles(dir).guestExit, 'utf8').catch(() => '')).trim().split('\n')[0];
  if (guest) {
    const exit = JSON.parse(guest) as { exit_code: number; signal: string | null };
    return {
      exitCode: exit.exit_code,
      oomKilled: false,
      at: qemuExit.at,
      ...(exit.signal ? { signal: exit.signal } : {}),
    };
  }
  // No report: QEMU was killed, or the guest died before its init could tell (a panic).
  return qemuExit.exitCode === 0 ? { ...qemuExit, exitCode: 255 } : qemuExit;
}

/** The VM as the host pays for it: QEMU's resident memory and CPU time. */
export async function qemuStats(pid: number): Promise<SandboxStats> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return { cpuUsageUsec: (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND, memoryBytes: rssKb * 1024, pids: 1 };
}
