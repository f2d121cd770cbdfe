/**
 * The host network contract: a bridge per host, a network namespace per machine with one IPv4 and
 * one IPv6 address, NAT for egress. Names and subnets come from `HostNetworkOptions` so that
 * tests (and several data dirs on one host) never collide.
 */

export interface HostNetworkOptions {
  /** Bridge device name, at most 15 characters (default `nearby0`). */
  bridge: string;
  /** IPv4 subnet of machines, e.g. `172.19.0.0/16`; the bridge takes the first address. */
  ipv4Cidr: string;
  /** IPv6 /64 prefix of machines, e.g. `fdaa:0:1::/64`; the bridge takes `::1`. */
  ipv6Cidr: string;
  /** Prefix of network namespace names (default `nearby-`). */
  netnsPrefix: string;
  /** Host TCP ports machines may open: the edge proxy's public ones (docs/network.md). Default none. */
  hostTcpPorts: number[];
  /** The WireGuard mesh's interface when the host is on the mesh: machines' traffic through it is
   *  not masqueraded (the receiving host checks its source's org), and may enter the bridge past the
   *  host guard, where the mesh table (mesh-rules.ts) admits only the same org. */
  meshInterface?: string;
}

/** A machine as the network's isolation sees it: who it is and which org it belongs to. */
export interface MachineMember extends MachineAddresses {
  machineId: string;
  org: string;
}

export interface MachineAddresses {
  ipv4: string;
  ipv6: string;
}

export interface Attachment extends MachineAddresses {
  /** `/run/netns/<name>`: what the runtime joins. */
  netnsPath: string;
}

export interface HostNetwork {
  readonly options: HostNetworkOptions;
  /** Creates the bridge, its addresses, forwarding, NAT and the isolation tables. Idempotent, and
   *  keeps the machines' isolation as the kernel holds it (machines outlive a restart of nearby). */
  ensure(): Promise<void>;
  /** Sets the isolation to exactly these machines (the store's view when the agent starts); every
   *  other port on the bridge is fenced off. One transaction. */
  isolate(members: MachineMember[]): Promise<void>;
  /** Picks free addresses, given the ones already in use. */
  allocate(inUse: Iterable<string>): MachineAddresses;
  /** Creates (or finds) the machine's namespace, veth pair and addresses, and lets it reach the
   *  machines of `org` (and only them) before its port joins the bridge. Idempotent. */
  attach(machineId: string, addresses: MachineAddresses, org: string): Promise<Attachment>;
  /** Removes the machine's namespace, veth and isolation entries. Idempotent. */
  detach(machineId: string): Promise<void>;
  /** Removes the bridge, NAT and isolation rules and every namespace with our prefix. */
  teardown(): Promise<void>;
}
