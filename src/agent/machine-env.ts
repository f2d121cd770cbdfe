/** What a machine sees of itself: the platform's env vars and generated /etc files. */
import { readFileSync } from 'node:fs';
import type { MachineRecord } from '../model/mod.ts';
import type { Attachment, MachineAddresses } from '../net/types.ts';

export function imageRefString(record: MachineRecord): string {
  const ref = record.image_ref;
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}@${ref.digest}`;
}

/** `FLY_*` names for apps written for that platform, `NEARBY_*` twins for ours. */
export function machineEnv(record: MachineRecord, attachment: Attachment): Record<string, string> {
  const env: Record<string, string> = {
    APP_NAME: record.app,
    MACHINE_ID: record.id,
    ALLOC_ID: record.id,
    REGION: record.region,
    PRIVATE_IP: attachment.ipv6,
    IMAGE_REF: imageRefString(record),
    MACHINE_VERSION: record.instance_id,
    PROCESS_GROUP: record.config.metadata?.fly_process_group ?? 'app',
  };
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    result[`FLY_${name}`] = value;
    result[`NEARBY_${name}`] = value;
  }
  return result;
}

/**
 * /etc/hosts, /etc/hostname and /etc/resolv.conf for the machine. With `resolver` (the host's
 * resolver on the bridge's gateway, src/dns/), names go there: `.internal` and the rest.
 */
export function machineEtcFiles(record: MachineRecord, attachment: Attachment, resolver?: MachineAddresses) {
  const hosts = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    `${attachment.ipv6}\t${record.id}`,
    `${attachment.ipv4}\t${record.id}`,
    '',
  ].join('\n');
  return [
    { path: '/etc/hosts', content: hosts, mode: 0o644 },
    { path: '/etc/hostname', content: `${record.id}\n`, mode: 0o644 },
    { path: '/etc/resolv.conf', content: resolver ? resolverConf(resolver) : resolvConf(), mode: 0o644 },
  ];
}

// IPv6 first: the private network is IPv6; the IPv4 line serves a libc that asks over IPv4 only.
function resolverConf(resolver: MachineAddresses): string {
  return `nameserver ${resolver.ipv6}\nnameserver ${resolver.ipv4}\n`;
}

// Without nearby's resolver: the host's own, but loopback resolvers of the host are unreachable from a machine's namespace.
function resolvConf(): string {
  let servers: string[] = [];
  try {
    servers = readFileSync('/etc/resolv.conf', 'utf8')
      .split('\n')
      .filter((line) => /^nameserver\s+/.test(line) && !/\s(127\.|::1)/.test(line));
  } catch {}
  return `${(servers.length ? servers : ['nameserver 9.9.9.9']).join('\n')}\n`;
}
