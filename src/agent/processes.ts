/**
 * `ps` for a machine, read from the host's /proc: the sandbox's process tree from its main pid,
 * with pids as the machine sees them (its pid namespace) and the TCP sockets each one listens on.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import type { ProcessInfo } from '../model/mod.ts';

const TICK_MS = 10; // USER_HZ is 100 on every Linux nearby runs on

async function children(pid: number): Promise<number[]> {
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  const found: number[] = [];
  for (const task of tasks) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
    found.push(...text.split(/\s+/).filter(Boolean).map(Number));
  }
  return found;
}

/** Inodes of the listening TCP sockets in the process's network namespace, with their address. */
async function listeners(pid: number): Promise<Map<string, string>> {
  const result = new Map<string, string>();
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${file}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue;
      const [hexAddress, hexPort] = fields[1].split(':');
      const port = Number.parseInt(hexPort, 16);
      const address = /^0+$/.test(hexAddress) ? (file === 'tcp' ? '0.0.0.0' : '[::]') : hexToIp(hexAddress);
      result.set(fields[9], `${address}:${port}`);
    }
  }
  return result;
}

function hexToIp(hex: string): string {
  if (hex.length === 8) {
    return [hex.slice(6, 8), hex.slice(4, 6), hex.slice(2, 4), hex.slice(0, 2)]
      .map((byte) => Number.parseInt(byte, 16))
      .join('.');
  }
  return `[${hex}]`;
}

async function describe(pid: number, sockets: Map<string, string>): Promise<ProcessInfo | undefined> {
  try {
    const [cmdline, status, stat, uptime] = await Promise.all([
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile('/proc/uptime', 'utf8'),
    ]);
    // Fields after the command (which may hold spaces) start at state: utime is 14th overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]) * TICK_MS;
    const stime = Number(fields[12]) * TICK_MS;
    const startedMs = Number(fields[19]) * TICK_MS;
    const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1].trim().split(/\s+/).at(-1);
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    const listen: ProcessInfo['listen_sockets'] = [];
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      const address = inode && sockets.get(inode);
      if (address) listen.push({ proto: 'tcp', address });
    }
    return {
      pid: Number(nspid ?? pid),
      command: cmdline.split('\0').filter(Boolean).join(' '),
      directory: await readlink(`/proc/${pid}/cwd`).catch(() => ''),
      cpu: utime + stime,
      rss: rssKb * 1024,
      stime,
      rtime: Math.max(0, Math.round(Number(uptime.split(' ')[0]) * 1000 - startedMs)),
      listen_sockets: listen,
    };
  } catch {
    return undefined; // it exited while we looked
  }
}

/** Every process under `rootPid` (included), parents first. */
export async function processTree(rootPid: number): Promise<ProcessInfo[]> {
  const sockets = await listeners(rootPid);
  const pids = [rootPid];
  for (let i = 0; i < pids.length && pids.length < 1000; i++) pids.push(...(await children(pids[i])));
  const infos = await Promise.all(pids.map((pid) => describe(pid, sockets)));
  return infos.filter((info): info is ProcessInfo => info !== undefined);
}
