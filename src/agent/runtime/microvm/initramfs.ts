/**
 * The guest's initramfs: our static init as /init, the virtio modules and their load order (the
 * same for every machine), then a second archive with the machine's own /nearby.conf (process,
 * network, files) in the line format native/init/init.c reads.
 */
import { readFileSync } from 'node:fs';
import type { ProcessSpec } from '../types.ts';
import { cpioArchive, S_IFCHR, S_IFDIR, S_IFREG } from './cpio.ts';
import type { GuestAssets } from './host.ts';

export interface GuestNetwork {
  ipv4?: { address: string; prefixLength: number; gateway: string };
  ipv6?: { address: string; prefixLength: number; gateway: string };
}

export interface GuestConfig {
  hostname: string;
  process: ProcessSpec;
  network: GuestNetwork;
  /** Written into the machine's root before the entrypoint starts (content in base64). */
  files: { path: string; content: string; mode?: number }[];
}

export function baseInitramfs(initPath: string, assets: GuestAssets): Buffer {
  const dirs = ['dev', 'proc', 'sys', 'newroot', 'lib', 'lib/modules'];
  return cpioArchive([
    ...dirs.map((name) => ({ name, mode: S_IFDIR | 0o755 })),
    // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: { major: 5, minor: 1 } },
    { name: 'init', mode: S_IFREG | 0o755, data: readFileSync(initPath) },
    ...assets.modules.map((m) => ({
      name: m.guestPath.slice(1),
      mode: S_IFREG | 0o644,
      data: readFileSync(m.hostPath),
    })),
    {
      name: 'modules.order',
      mode: S_IFREG | 0o644,
      data: Buffer.from(`${assets.modules.map((m) => m.guestPath).join('\n')}\n`),
    },
  ]);
}

const hex = (value: string | Buffer) => Buffer.from(value).toString('hex');

export function configText(config: GuestConfig): string {
  const { process, network } = config;
  const lines = [`hostname ${config.hostname.replace(/[^a-zA-Z0-9.-]/g, '')}`];
  lines.push(`uid ${process.user.uid}`, `gid ${process.user.gid}`);
  for (const group of process.user.additionalGids) lines.push(`group ${group}`);
  lines.push(`cwd ${hex(process.cwd || '/')}`);
  for (const arg of process.args) lines.push(`arg ${hex(arg)}`);
  for (const env of process.env) lines.push(`env ${hex(env)}`);
  if (network.ipv4)
    lines.push(`ip4 ${network.ipv4.address} ${network.ipv4.prefixLength} ${network.ipv4.gateway}`);
  if (network.ipv6)
    lines.push(`ip6 ${network.ipv6.address} ${network.ipv6.prefixLength} ${network.ipv6.gateway}`);
  for (const file of config.files) {
    const mode = (file.mode ?? 0o644).toString(8);
    lines.push(`file ${hex(file.path)} ${mode} ${Buffer.from(file.content, 'base64').toString('hex')}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The whole initramfs for one boot: the cached base with the machine's config appended. */
export function machineInitramfs(base: Buffer, config: GuestConfig): Buffer {
  const conf = cpioArchive([
    { name: 'nearby.conf', mode: S_IFREG | 0o600, data: Buffer.from(configText(config)) },
  ]);
  return Buffer.concat([base, conf]);
}
