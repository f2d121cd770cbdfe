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
}

/** An API token (`tokens/<id>`), stored by the SHA-256 of its secret, never the secret itself. */
export interface TokenRecord {
  id: string;
  sha256: string;
  kind: 'admin' | 'org' | 'deploy';
  org_slug?: string;
  app?: string;
  name: string;
  created_at: string;
  /** After this instant the token no longer authenticates. */
  expires_at?: string;
}
