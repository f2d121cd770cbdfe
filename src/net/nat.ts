/**
 * Egress NAT for machines: one nftables table per bridge (`nearby_<bridge>`) masquerading the
 * machine subnets when packets leave through any other interface. Replaced atomically.
 */
import { mustRun, runCommand } from './command.ts';

export function natTableName(bridge: string): string {
  return `nearby_${bridge.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** `keep`: interfaces whose traffic keeps the machine's address (the mesh's: the receiving host
 *  knows the machine's org by its address, which a masquerade would hide). */
export async function ensureNat(
  bridge: string,
  ipv4Cidr: string,
  ipv6Cidr: string,
  keep: string[] = [],
): Promise<void> {
  const table = natTableName(bridge);
  const names = [bridge, ...keep].map((name) => JSON.stringify(name));
  const inside = keep.length === 0 ? names[0] : `{ ${names.join(', ')} }`;
  // Declaring then deleting the table makes the script work whether or not it exists yet,
  // and nft applies the whole script as one transaction.
  const script = `table inet ${table} {}
delete table inet ${table}
table inet ${table} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${ipv4Cidr} oifname != ${inside} masquerade
    ip6 saddr ${ipv6Cidr} oifname != ${inside} masquerade
  }
}
`;
  await mustRun('nft', ['-f', '-'], undefined, script);
}

export async function natRules(bridge: string): Promise<string> {
  return (await runCommand('nft', ['list', 'table', 'inet', natTableName(bridge)])).stdout;
}

export async function removeNat(bridge: string): Promise<void> {
  await mustRun('nft', ['delete', 'table', 'inet', natTableName(bridge)], /No such file or directory/);
}
