/**
 * Applies the organisation isolation rules (isolation-rules.ts) to the kernel: the host guard on
 * every start, the port table rebuilt from the store's machines when the agent starts, and machines
 * admitted and released one by one in between (`nft` transactions, never a window without rules).
 * The kernel keeps all of it while nearby is down, so machines stay isolated across restarts.
 */
import { mustRun, runCommand } from './command.ts';
import {
  type BridgeShape,
  hostRules,
  type IsolationMember,
  isolationTables,
  orgChain,
  portRules,
} from './isolation-rules.ts';

const MISSING = /No such file or directory/;

/** Replaces the host guard (stateless, so always safe to replace). */
export async function ensureHostGuard(
  bridge: string,
  hostTcpPorts: number[],
  meshInterface?: string,
): Promise<void> {
  await mustRun('nft', ['-f', '-'], undefined, hostRules(bridge, hostTcpPorts, meshInterface));
}

/** Makes the port table if it is missing; an existing one (nearby restarted) keeps its elements. */
export async function ensurePortTable(shape: BridgeShape, ports: string[]): Promise<void> {
  const table = isolationTables(shape.bridge).ports;
  const listed = await runCommand('nft', ['list', 'table', 'bridge', table]);
  if (listed.code !== 0) await rebuildPortTable(shape, [], ports);
}

/** Replaces the port table with exactly `members` (and `ports`, fenced off), in one transaction. */
export async function rebuildPortTable(
  shape: BridgeShape,
  members: IsolationMember[],
  ports: string[],
): Promise<void> {
  await mustRun('nft', ['-f', '-'], undefined, portRules(shape, members, ports));
}

/** Lets a machine's port talk to its org: run before the port joins the bridge. Idempotent. */
export async function admitMember(bridge: string, member: IsolationMember): Promise<void> {
  const table = `bridge ${isolationTables(bridge).ports}`;
  const chain = orgChain(member.org);
  const port = JSON.stringify(member.port);
  // The org's chain is declared again and its rules rewritten: `add` is idempotent, and the flush
  // and the rules land in the same transaction, so the chain is never seen empty.
  const script = `add set ${table} ${chain}_ports { type ifname; }
add chain ${table} ${chain}
flush chain ${table} ${chain}
add rule ${table} ${chain} oifname @${chain}_ports accept
add rule ${table} ${chain} drop
add element ${table} ports { ${port} }
add element ${table} own4 { ${port} . ${member.ipv4} }
add element ${table} own6 { ${port} . ${member.ipv6} }
add element ${table} ${chain}_ports { ${port} }
add element ${table} orgs { ${port} : jump ${chain} }
`;
  await mustRun('nft', ['-f', '-'], undefined, script);
}

interface NftJson {
  nftables: { set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: unknown[] } }[];
}

/** Forgets a machine's port: its addresses, its org membership and the port itself. Idempotent. */
export async function releasePort(bridge: string, port: string): Promise<void> {
  const name = isolationTables(bridge).ports;
  const listed = await runCommand('nft', ['-j', 'list', 'table', 'bridge', name]);
  if (listed.code !== 0) return; // no table, nothing to forget
  const deletions: string[] = [];
  const quoted = JSON.stringify(port);
  for (const item of (JSON.parse(listed.stdout) as NftJson).nftables) {
    const set = item.set ?? item.map;
    for (const element of set?.elem ?? []) {
      const key = elementKey(element);
      if (key?.[0] !== port) continue;
      const text = key.length === 2 ? `${quoted} . ${key[1]}` : quoted;
      deletions.push(`delete element bridge ${name} ${set?.name} { ${text} }`);
    }
  }
  if (deletions.length > 0) await mustRun('nft', ['-f', '-'], MISSING, `${deletions.join('\n')}\n`);
}

/** `"port"`, `{concat: ["port", "addr"]}` or a map entry `["port", verdict]` as its key parts. */
function elementKey(element: unknown): string[] | undefined {
  const key = Array.isArray(element) ? element[0] : element;
  if (typeof key === 'string') return [key];
  const concat = (key as { concat?: unknown } | null)?.concat;
  if (Array.isArray(concat) && concat.every((part) => typeof part === 'string')) return concat;
  return undefined;
}

/** Removes both tables (`nearby host clean`). */
export async function removeIsolation(bridge: string): Promise<void> {
  const tables = isolationTables(bridge);
  await mustRun('nft', ['delete', 'table', 'bridge', tables.ports], MISSING);
  await mustRun('nft', ['delete', 'table', 'inet', tables.host], MISSING);
}

/** Both tables as `nft list` prints them ('' when absent), for tests and `nearby` diagnostics. */
export async function isolationRules(bridge: string): Promise<string> {
  const tables = isolationTables(bridge);
  const ports = await runCommand('nft', ['list', 'table', 'bridge', tables.ports]);
  const host = await runCommand('nft', ['list', 'table', 'inet', tables.host]);
  return (ports.code === 0 ? ports.stdout : '') + (host.code === 0 ? host.stdout : '');
}
