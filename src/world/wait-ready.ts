/** Waiting for one of the world's processes to serve: fails at once when it exits, with its log. */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { worldError } from './errors.ts';
import { isRunning } from './processes.ts';
import type { WorldProcess } from './state.ts';

export async function waitFor(
  what: string,
  ready: () => Promise<boolean>,
  logFile: string,
  processes: WorldProcess[],
  timeoutMs = 120_000,
) {
  const deadline = Date.now() + timeoutMs;
  // Gone on two looks in a row: a process caught in the middle of an exec (nsenter, then sh, then
  // node) can show an empty command line for an instant on a busy host.
  let goneLooks = 0;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return;
    goneLooks = processes.some((process) => !isRunning(process)) ? goneLooks + 1 : 0;
    if (goneLooks >= 2) break;
    await delay(200);
  }
  let log = '';
  try {
    log = readFileSync(logFile, 'utf8').slice(-3000);
  } catch {}
  throw worldError(
    'WORLD_UP_FAILED',
    goneLooks >= 2
      ? `${what} exited before it was ready`
      : `${what} was not ready within ${timeoutMs / 1000} s`,
    `its log (${logFile}):\n${log}`,
  );
}
