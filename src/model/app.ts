/** An app (`apps/<name>`): a name, an org and the network its machines share. */
export interface AppRecord {
  id: string;
  name: string;
  org_slug: string;
  network: string;
  created_at: string;
}

/** A host (`hosts/<name>`): where machines run, refreshed by its agent's heartbeat. */
export interface HostRecord {
  name: string;
  region: string;
  runtime: string;
  /** Machine `runtime`s it can run (`container`, `microvm`); absent: only its default. */
  runtimes?: string[];
  memory_mb: number;
  cpus: number;
  heartbeat_at: string;
  started_at: string;
  /** Where the agent serves consoles (`nearby ssh console`): a unix socket on this host. */
  console_socket?: string;
  /** `address:port` of the agent's console listener for APIs on other hosts (sessions granted
   *  through the store, `ConsoleGrant`); preferred over `console_socket` when present. */
  console_address?: string;
  /** nearby's version on this host (package.json). */
  version?: string;
  /** The address other hosts reach this host at (its backhaul address; the agent's `--address`). */
  address?: string;
  /** At most this many machines run on this host (`--max-machines`); the scheduler keeps to it. */
  max_machines?: number;
  /** This host's machine subnets: allocated in the store in a cluster, from flags on one host. */
  subnet4?: string;
  subnet6?: string;
  /** The WireGuard mesh between hosts (src/net/wireguard.ts), when this host has joined it: its
   *  public key, `address:port` of its WireGuard socket, and its own address on the mesh. */
  wireguard_public_key?: string;
  mesh_endpoint?: string;
  mesh_address?: string;
}

/** A host subnet taken out of the cluster's pool (`subnets/<family>/<subnet>`): whose it is. */
export interface SubnetClaim {
  host: string;
  subnet: string;
  claimed_at: string;
}

/**
 * An edge proxy (`proxies/<host>`), written by that proxy: where other proxies reach it over the
 * backhaul, and the round-trip times it measured to the others (by host name), for region ranking.
 */
export interface ProxyRecord {
  host: string;
  region: string;
  /** `address:port` of its backhaul listener, which only nearby's proxies may use. */
  backhaul: string;
  version: string;
  heartbeat_at: string;
  /** Median round-trip time in milliseconds to each other proxy, by host name. */
  rtt_ms: Record<string, number>;
}

/** An API token (`tokens/<id>`), stored by the SHA-256 of its secret, never the secret itself. */
export interface TokenRecord {
  id: string;
  sha256: string;
  /** `host`: what a host's agent and proxy need (pull any image, start and stop machines), nothing more. */
  kind: 'admin' | 'org' | 'deploy' | 'host';
  org_slug?: string;
  app?: string;
  name: string;
  created_at: string;
  /** After this instant the token no longer authenticates. */
  expires_at?: string;
}
