/**
 * The nftables rules that keep each organisation's machines to themselves (docs/network.md), as
 * text for `nft -f`: a `bridge` table that filters frames between the bridge's ports (one port per
 * machine) and an `inet` table that guards the host. Pure: applying them is isolation.ts's job.
 */
import { createHash } from 'node:crypto';

/** A machine as the rules see it: its bridge port, the addresses it owns and its organisation. */
export interface IsolationMember {
  port: string;
  ipv4: string;
  ipv6: string;
  org: string;
}

/** The bridge, its subnets and its own (gateway) addresses. */
export interface BridgeShape {
  bridge: string;
  ipv4Cidr: string;
  ipv6Cidr: string;
  gateway: { ipv4: string; ipv6: string };
}

const tablePart = (bridge: string) => bridge.replace(/[^a-zA-Z0-9_]/g, '_');

/** `table bridge nearby_<bridge>` (machines among themselves), `table inet nearby_<bridge>_host`. */
export function isolationTables(bridge: string): { ports: string; host: string } {
  return { ports: `nearby_${tablePart(bridge)}`, host: `nearby_${tablePart(bridge)}_host` };
}

/** An org's chain and port set: named by a hash, since slugs may hold characters nft names may not. */
export function orgChain(org: string): string {
  return `org_${createHash('sha256').update(org).digest('hex').slice(0, 12)}`;
}

const quote = (name: string) => JSON.stringify(name);

function elements(items: string[]): string {
  return items.length === 0 ? '' : `elements = { ${items.join(', ')} }`;
}

/**
 * The whole bridge table, replacing any earlier one in one transaction. `ports` lists every port of
 * the bridge the caller knows of, members or not: a port that is not a member may send nothing.
 */
export function portRules(shape: BridgeShape, members: IsolationMember[], ports: string[] = []): string {
  const { bridge, ipv4Cidr, ipv6Cidr, gateway } = shape;
  const table = isolationTables(bridge).ports;
  const orgs = new Map<string, string[]>();
  for (const member of members) orgs.set(member.org, [...(orgs.get(member.org) ?? []), member.port]);
  const allPorts = [...new Set([...ports, ...members.map((m) => m.port)])];
  const orgBlocks = [...orgs].map(([org, orgPorts]) => {
    const chain = orgChain(org);
    return `  set ${chain}_ports { type ifname; ${elements(orgPorts.map(quote))} }
  chain ${chain} {
    oifname @${chain}_ports accept
    drop
  }`;
  });
  return `table bridge ${table} {}
delete table bridge ${table}
table bridge ${table} {
  # Every machine port of this bridge. Frames between ports of other bridges are none of ours.
  set ports { type ifname; ${elements(allPorts.map(quote))} }
  # The addresses each port may send from and be sent to.
  set own4 { type ifname . ipv4_addr; ${elements(members.map((m) => `${quote(m.port)} . ${m.ipv4}`))} }
  set own6 { type ifname . ipv6_addr; ${elements(members.map((m) => `${quote(m.port)} . ${m.ipv6}`))} }
  # Port -> its org's chain, which lets a frame out only on a port of the same org.
  map orgs { type ifname : verdict; ${elements(members.map((m) => `${quote(m.port)} : jump ${orgChain(m.org)}`))} }
${orgBlocks.join('\n')}
  chain prerouting {
    type filter hook prerouting priority filter; policy accept;
    iifname != @ports accept
    # Anti-spoofing: a machine (a microVM owns its kernel) sends only from its own addresses.
    ether type ip iifname . ip saddr @own4 accept
    ether type ip6 iifname . ip6 saddr @own6 accept
    # Link-local sources carry neighbour discovery; the rules below let nothing else of theirs through.
    ether type ip6 ip6 saddr fe80::/10 accept
    ether type ip6 ip6 saddr :: icmpv6 type nd-neighbor-solicit accept
    ether type arp iifname . arp saddr ip @own4 accept
    drop
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname != @ports accept
    # Neighbour discovery and ARP, then unicast to the address the out port owns (so a poisoned
    # neighbour cache cannot steer frames to another port); each only between ports of one org.
    ether type ip6 icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 iifname vmap @orgs
    ether type arp iifname vmap @orgs
    ether type ip oifname . ip daddr @own4 iifname vmap @orgs
    ether type ip6 oifname . ip6 daddr @own6 iifname vmap @orgs
    drop
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname != @ports accept
    # Machines meet only on the bridge, where the org check runs: never routed back through the host.
    ether type ip ip daddr != ${gateway.ipv4} ip daddr ${ipv4Cidr} drop
    ether type ip6 ip6 daddr != ${gateway.ipv6} ip6 daddr ${ipv6Cidr} drop
  }
}
`;
}

/**
 * The host's guard, replaced whole (it holds no state): from machines, the host answers only
 * replies, neighbour discovery, `hostTcpPorts` and DNS; nothing is forwarded into the bridge from
 * elsewhere unless it answers a machine's own connection.
 */
export function hostRules(bridge: string, hostTcpPorts: number[], meshInterface?: string): string {
  const table = isolationTables(bridge).host;
  const outside = meshInterface ? `{ ${quote(bridge)}, ${quote(meshInterface)} }` : quote(bridge);
  const open = hostTcpPorts.length === 0 ? '' : `    tcp dport { ${hostTcpPorts.join(', ')} } accept\n`;
  return `table inet ${table} {}
delete table inet ${table}
table inet ${table} {
  chain input {
    type filter hook input priority filter; policy accept;
    iifname != ${quote(bridge)} accept
    ct state established,related accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
${open}    # The machines' resolver on the gateway addresses (src/dns/): the second door, opened on purpose.
    meta l4proto { tcp, udp } th dport 53 accept
    # Refused rather than dropped: a machine learns at once that the host is closed to it.
    meta l4proto tcp reject with tcp reset
    reject with icmpx admin-prohibited
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    # Bridged frames (when br_netfilter shows them here) come in on the bridge itself: only what is
    # routed in from another interface is checked.
    # The mesh's interface, when there is one, is checked by its own table (mesh-rules.ts): from
    # there only machines of the destination's org get in.
    iifname != ${outside} oifname ${quote(bridge)} ct state != { established, related } drop
    # A cloud's metadata service hands out the host's credentials: not the machines' business.
    iifname ${quote(bridge)} ip daddr 169.254.0.0/16 reject with icmpx admin-prohibited
  }
}
`;
}
