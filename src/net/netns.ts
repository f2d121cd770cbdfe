/**
 * Named network namespaces (`ip netns`, bound under /run/netns) and the veth pair that joins one
 * to the bridge. Every step checks first, so re-running after a crash converges.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { mustRun, runCommand } from './command.ts';

export const NETNS_DIR = '/run/netns';

export function netnsPath(name: string): string {
  return join(NETNS_DIR, name);
}

export async function ensureNetns(name: string): Promise<string> {
  if (!existsSync(netnsPath(name))) await mustRun('ip', ['netns', 'add', name], /File exists/);
  return netnsPath(name);
}

export async function deleteNetns(name: string): Promise<void> {
  if (existsSync(netnsPath(name))) await mustRun('ip', ['netns', 'delete', name], /No such file/);
}

export async function listNetns(prefix: string): Promise<string[]> {
  const names = await readdir(NETNS_DIR).catch(() => [] as string[]);
  return names.filter((name) => name.startsWith(prefix));
}

/** Interface names are at most 15 characters: a hash of bridge and machine keeps them unique
 *  across several networks on one host; `vh` is the host end, `vp` the peer before it is renamed. */
export function vethNames(bridge: string, machineId: string): { host: string; peer: string } {
  const hash = createHash('sha256').update(`${bridge}/${machineId}`).digest('hex').slice(0, 12);
  return { host: `vh${hash}`, peer: `vp${hash}` };
}

export async function linkExists(name: string, netns?: string): Promise<boolean> {
  const args = netns ? ['-n', netns, 'link', 'show', name] : ['link', 'show', name];
  return (await runCommand('ip', args)).code === 0;
}

export async function deleteLink(name: string): Promise<void> {
  // A veth whose namespace was just deleted vanishes asynchronously: gone is as good as deleted.
  if (await linkExists(name))
    await mustRun('ip', ['link', 'delete', name], /Cannot find device|No such device/);
}

/** Creates the veth pair with its peer inside `netns` as `eth0`, the host end on `bridge`. */
export async function ensureVeth(bridge: string, machineId: string, netns: string): Promise<string> {
  const { host, peer } = vethNames(bridge, machineId);
  if ((await linkExists(host)) && !(await linkExists('eth0', netns))) await deleteLink(host);
  if (!(await linkExists(host))) {
    await mustRun('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer, 'netns', netns]);
    await mustRun('ip', ['-n', netns, 'link', 'set', peer, 'name', 'eth0']);
  }
  await mustRun('ip', ['link', 'set', host, 'master', bridge, 'up']);
  return host;
}
