/**
 * The world's links: one bridge in this host's namespace, a veth from it into every region host's
 * and client city's namespace, all on one /16 (a /24 per city). Every namespace delays what it
 * receives from another city's /24 by half their RTT: an iptables rule sends those packets to an
 * NFQUEUE queue per city, and one `netdelay` per namespace holds each queue's packets for its
 * delay (this kernel has no netem). The other way is delayed by the other side, the same.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { runCommand } from '../run-command.ts';
import { worldError } from './errors.ts';
import type { PlannedNamespace } from './plan.ts';
import { startDetached } from './processes.ts';
import { saveState, type WorldState } from './state.ts';

export const netdelayBin = join(import.meta.dirname, '..', '..', 'native', 'build', 'netdelay');

export async function sh(command: string, args: string[]): Promise<string> {
  const result = await runCommand(command, args, { timeoutMs: 30_000 });
  if (result.code !== 0)
    throw worldError(
      'WORLD_UP_FAILED',
      `${command} ${args.join(' ')} failed: ${result.stderr.trim() || result.code}`,
    );
  return result.stdout;
}

export async function makeBridge(state: WorldState): Promise<void> {
  const { plan } = state;
  await sh('ip', ['link', 'add', plan.bridge, 'type', 'bridge']);
  state.bridge = plan.bridge;
  saveState(state);
  await sh('ip', ['addr', 'add', `${plan.gateway}/16`, 'dev', plan.bridge]);
  await sh('ip', ['link', 'set', plan.bridge, 'up']);
}

/** The namespace, its veth on the bridge, its address, its resolver (the world's GeoDNS), its delays. */
export async function makeNamespace(state: WorldState, space: PlannedNamespace): Promise<void> {
  const { plan } = state;
  await sh('ip', ['netns', 'add', space.netns]);
  state.namespaces.push(space.netns);
  saveState(state);
  await sh('ip', ['link', 'add', space.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', space.netns]);
  await sh('ip', ['link', 'set', space.veth, 'master', plan.bridge, 'up']);
  await sh('ip', ['-n', space.netns, 'addr', 'add', `${space.address}/16`, 'dev', 'eth0']);
  await sh('ip', ['-n', space.netns, 'link', 'set', 'eth0', 'up']);
  await sh('ip', ['-n', space.netns, 'link', 'set', 'lo', 'up']);
  // `ip netns exec` bind-mounts this over /etc/resolv.conf: names resolve through the world's GeoDNS.
  const etc = join('/etc/netns', space.netns);
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'resolv.conf'), `nameserver ${plan.gateway}\noptions timeout:2 attempts:2\n`);
  // On the way in, not out: a packet held on its way out still belongs to the sending socket,
  // and TCP small queues let a socket have only ~2 packets below it, so a 200 ms link carried
  // 29 kB/s; held on the way in (the veth has orphaned it) the same link carries 2.3 MB/s.
  for (const link of space.delays)
    await sh('ip', [
      ...['netns', 'exec', space.netns, 'iptables', '-w', '-t', 'mangle', '-A', 'PREROUTING'],
      ...['-s', link.network, '-j', 'NFQUEUE', '--queue-num', String(link.queue), '--queue-bypass'],
    ]);
  if (space.delays.length === 0) return;
  const logFile = join(state.dir, 'logs', `netdelay-${space.netns}.log`);
  const started = startDetached(
    `netdelay ${space.netns}`,
    netdelayBin,
    space.delays.map((link) => `${link.queue}:${link.delayUs}`),
    { netns: space.netns, logFile, cwd: state.dir },
  );
  state.processes.push(started);
  saveState(state);
  for (let attempt = 0; attempt < 100; attempt++) {
    const log = readFileSync(logFile, 'utf8');
    if (log.includes('ready')) return;
    if (/failed|cannot|error/i.test(log) && !log.includes('real-time'))
      throw worldError('WORLD_UP_FAILED', `netdelay in ${space.netns} failed: ${log.trim()}`);
    await delay(50);
  }
  throw worldError('WORLD_UP_FAILED', `netdelay in ${space.netns} was not ready within 5 s`);
}
