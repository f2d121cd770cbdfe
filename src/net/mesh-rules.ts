/**
 * The receiving side of the mesh's org check: a table (`inet nearby_<bridge>_mesh`) that lets a
 * packet from the WireGuard interface into the bridge only when its source machine (on another
 * host) and its destination machine (here) belong to the same org. One pair of address sets per
 * org, replaced whole from the store's machines (src/agent/mesh-orgs.ts).
 */
import { mustRun, runCommand } from './command.ts';
import { orgChain } from './isolation-rules.ts';

/** An org's machines as the mesh table sees them: here (`local`) and on other hosts (`remote`). */
export interface MeshOrg {
  local6: string[];
  local4: string[];
  remote6: string[];
  remote4: string[];
}

const MISSING = /No such file or directory/;

/** The hosts' own addresses on the mesh, outside the machines' pool (src/agent/mesh-start.ts). */
export const MESH_HOSTS_PREFIX = 'fdaa:0:ff::/64';

export function meshTableName(bridge: string): string {
  return `nearby_${bridge.replace(/[^a-zA-Z0-9_]/g, '_')}_mesh`;
}

function set(name: string, type: string, items: string[]): string {
  return `  set ${name} { type ${type}; ${items.length ? `elements = { ${items.join(', ')} }` : ''} }`;
}

/**
 * The whole table. Its chain runs before the host guard (priority filter - 1), which lets the mesh's
 * traffic past: what this chain drops stays dropped, so without a match nothing gets in. WireGuard
 * has already checked that the source lies in the sending host's subnets (AllowedIPs), and that
 * host's bridge table that the machine sent from its own address: the source's org is known.
 */
export function meshRules(bridge: string, meshInterface: string, orgs: Map<string, MeshOrg>): string {
  const table = meshTableName(bridge);
  const blocks: string[] = [];
  const rules: string[] = [];
  for (const [org, machines] of [...orgs].sort(([x], [y]) => x.localeCompare(y))) {
    const name = orgChain(org);
    blocks.push(
      `  # ${JSON.stringify(org).slice(0, 60)}`,
      set(`${name}_local6`, 'ipv6_addr', machines.local6),
      set(`${name}_remote6`, 'ipv6_addr', machines.remote6),
      set(`${name}_local4`, 'ipv4_addr', machines.local4),
      set(`${name}_remote4`, 'ipv4_addr', machines.remote4),
    );
    rules.push(
      `    ip6 saddr @${name}_remote6 ip6 daddr @${name}_local6 accept`,
      `    ip saddr @${name}_remote4 ip daddr @${name}_local4 accept`,
    );
  }
  return `table inet ${table} {}
delete table inet ${table}
table inet ${table} {
${blocks.join('\n')}
  chain forward {
    type filter hook forward priority filter - 1; policy accept;
    iifname != ${JSON.stringify(meshInterface)} accept
    oifname != ${JSON.stringify(bridge)} accept
    ct state established,related accept
${rules.join('\n')}
    drop
  }
  # Into this host itself from the mesh: the other hosts (their mesh addresses: the backhaul) only.
  # A machine's packet keeps its address across the mesh, and must not reach host services.
  chain input {
    type filter hook input priority filter; policy accept;
    iifname != ${JSON.stringify(meshInterface)} accept
    ct state established,related accept
    ip6 saddr ${MESH_HOSTS_PREFIX} accept
    drop
  }
}
`;
}

/** Makes the table, empty (nothing from the mesh gets in), when it is missing; an existing one (the
 *  agent restarted) keeps its sets until the store has been read. */
export async function ensureMeshGuard(bridge: string, meshInterface: string): Promise<void> {
  const listed = await runCommand('nft', ['list', 'table', 'inet', meshTableName(bridge)]);
  if (listed.code !== 0) await applyMeshGuard(bridge, meshInterface, new Map());
}

export async function applyMeshGuard(
  bridge: string,
  meshInterface: string,
  orgs: Map<string, MeshOrg>,
): Promise<void> {
  await mustRun('nft', ['-f', '-'], undefined, meshRules(bridge, meshInterface, orgs));
}

export async function removeMeshGuard(bridge: string): Promise<void> {
  await mustRun('nft', ['delete', 'table', 'inet', meshTableName(bridge)], MISSING);
}
