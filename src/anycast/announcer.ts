/**
 * `nearby anycast announce`: runs bird with the announcer configuration and a health loop that
 * probes the local edge and switches the announcement (`birdc disable|enable edge`): the route is
 * withdrawn while the edge fails its probes or a drain file exists, and announced again when it
 * passes. bird exiting ends the announcer with ANYCAST_BIRD_FAILED (a supervisor restarts both).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { probeEdge } from '../edge/edge-health.ts';
import { edgeError } from '../edge/errors.ts';
import { runCommand } from '../run-command.ts';
import { ANNOUNCE_PROTOCOL, type AnnouncerConfig, renderAnnouncerConfig } from './bird-config.ts';

export interface AnnouncerOptions {
  config: AnnouncerConfig;
  stateDir: string;
  /** Any HTTP answer within the timeout is healthy (the edge answers unknown hosts with 404). */
  checkUrl: string;
  intervalMs?: number;
  /** Consecutive failures before withdrawing, and passes before announcing again. */
  fall?: number;
  rise?: number;
  log: (line: string) => void;
}

export const drainFile = (stateDir: string) => join(stateDir, 'drained');

export async function runAnnouncer(options: AnnouncerOptions, signal: AbortSignal): Promise<void> {
  const { stateDir, log } = options;
  mkdirSync(stateDir, { recursive: true });
  const configFile = join(stateDir, 'bird.conf');
  const socket = join(stateDir, 'bird.ctl');
  writeFileSync(configFile, renderAnnouncerConfig(options.config));
  const bird = spawn('bird', ['-f', '-c', configFile, '-s', socket], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let exited = false;
  const gone = new Promise<void>((resolve) => {
    bird.on('exit', () => {
      exited = true;
      resolve();
    });
    bird.on('error', () => {
      exited = true;
      resolve();
    });
  });
  const birdc = async (command: string) => {
    const result = await runCommand('birdc', ['-s', socket, ...command.split(' ')], { timeoutMs: 5_000 });
    if (result.code !== 0)
      throw edgeError('ANYCAST_BIRD_FAILED', `birdc ${command}: ${result.stderr || result.stdout}`);
  };
  try {
    for (let attempt = 0; !existsSync(socket); attempt++) {
      if (exited || attempt > 100)
        throw edgeError('ANYCAST_BIRD_FAILED', 'bird did not start', `check ${configFile} with bird -p -c`);
      await delay(50);
    }
    const interval = options.intervalMs ?? 250;
    let announced = false;
    let streak = 0;
    while (!signal.aborted && !exited) {
      const drained = existsSync(drainFile(stateDir));
      const healthy = !drained && (await probeEdge(options.checkUrl, Math.max(interval * 2, 500)));
      streak = healthy === announced ? 0 : streak + 1;
      // A drain acts at once; a probe's verdict after fall/rise in a row (one lost probe is not a failure).
      if (streak >= (drained ? 1 : healthy ? (options.rise ?? 2) : (options.fall ?? 2))) {
        await birdc(`${healthy ? 'enable' : 'disable'} ${ANNOUNCE_PROTOCOL}`);
        announced = healthy;
        streak = 0;
        log(
          `${healthy ? 'announcing' : 'withdrew'} ${options.config.address}/32${healthy ? '' : drained ? ' (drained)' : ` (${options.checkUrl} failed)`}`,
        );
      }
      await delay(interval, undefined, { signal }).catch(() => {});
    }
    if (exited && !signal.aborted) throw edgeError('ANYCAST_BIRD_FAILED', 'bird exited', 'see its log above');
  } finally {
    if (!exited) bird.kill('SIGTERM');
    await gone;
  }
}
