/**
 * `nearby world down`: stops the world's processes (nodes first, so they stop taking work, then the
 * API, NATS, the delays, the DNS), cleans every host's data dir with `nearby host clean` in its
 * namespace (machines, mounts, HAProxy, cgroups), ends anything still left in the namespaces,
 * removes them, the bridge, the resolver files and the world dir. Safe to run twice.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';
import { nearbyBin } from './cluster-parts.ts';
import { removeHostDisks } from './host-disks.ts';
import { stopProcess } from './processes.ts';
import { hasState, loadState } from './state.ts';

const order = ['anycast', 'bird', 'proxy', 'node', 'agent', 'api', 'dns', 'nats', 'netdelay'];

/** Removes the world in `dir`; returns false when there was none. */
export async function takeDown(dir: string, say: (line: string) => void): Promise<boolean> {
  if (!hasState(dir)) return false;
  const state = loadState(dir);
  const rank = (role: string) => order.indexOf(role.split(' ')[0]);
  const byRole = [...state.processes].sort((a, b) => rank(a.role) - rank(b.role));
  for (const group of order) {
    const stopping = byRole.filter((process) => process.role.split(' ')[0] === group);
    await Promise.all(stopping.map((process) => stopProcess(process)));
    if (stopping.length > 0) say(`stopped ${stopping.map((process) => process.role).join(', ')}`);
  }
  // In parallel: each data dir has its own namespace, bridge and HAProxy.
  await Promise.all(
    state.hostDataDirs.map(async ({ dataDir, netns }) => {
      if (!existsSync(dataDir)) return;
      const inNetns = state.namespaces.includes(netns) ? ['nsenter', `--net=/run/netns/${netns}`, '--'] : [];
      const [command, ...args] = [...inNetns, nearbyBin, 'host', 'clean', '--data-dir', dataDir, '--purge'];
      const cleaned = await runCommand(command, args, { timeoutMs: 120_000 });
      if (cleaned.code !== 0) say(`nearby host clean ${dataDir}: ${cleaned.stderr.trim()}`);
    }),
  );
  if (state.hostDataDirs.length > 0)
    say(`cleaned ${state.hostDataDirs.length} data dirs (machines, mounts, HAProxy)`);
  for (const netns of state.namespaces) {
    // Whatever still runs in it (a machine's process, a HAProxy) ends with it.
    const pids = await runCommand('ip', ['netns', 'pids', netns], { timeoutMs: 10_000 });
    for (const pid of pids.stdout.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {}
    }
    await runCommand('ip', ['netns', 'delete', netns], { timeoutMs: 10_000 });
    rmSync(join('/etc/netns', netns), { recursive: true, force: true });
  }
  if (state.namespaces.length > 0) say(`removed ${state.namespaces.length} namespaces`);
  // Once nothing runs in the namespaces any more: nothing holds the hosts' disks busy.
  await removeHostDisks(state);
  if (state.bridge) await runCommand('ip', ['link', 'delete', state.bridge], { timeoutMs: 10_000 });
  rmSync(dir, { recursive: true, force: true });
  say(`removed ${dir}`);
  return true;
}
