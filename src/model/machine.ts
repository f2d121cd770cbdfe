/**
 * A machine as the control plane stores it (`machines/<app>/<id>`) and as its agent reports it
 * (`machine-status/<host>/<id>`). Config field names follow the Machines API so that clients
 * written for it work unchanged.
 */
import type { MachineMount } from './volume.ts';

export type MachineState =
  | 'created'
  | 'starting'
  | 'started'
  | 'stopping'
  | 'stopped'
  | 'suspending'
  | 'suspended'
  | 'replacing'
  | 'replaced'
  | 'destroying'
  | 'destroyed'
  | 'failed';

export interface GuestConfig {
  cpu_kind?: 'shared' | 'performance';
  cpus?: number;
  memory_mb?: number;
}

export interface InitConfig {
  exec?: string[];
  entrypoint?: string[];
  cmd?: string[];
  tty?: boolean;
}

export interface MachinePort {
  port?: number;
  start_port?: number;
  end_port?: number;
  handlers?: string[];
  force_https?: boolean;
  tls_options?: Record<string, unknown>;
  http_options?: Record<string, unknown>;
  proxy_proto_options?: { version?: 'v1' | 'v2' };
}

export interface MachineCheck {
  type?: 'tcp' | 'http';
  port?: number;
  interval?: string;
  timeout?: string;
  grace_period?: string;
  method?: string;
  path?: string;
  protocol?: 'http' | 'https';
  headers?: Record<string, string | string[]>;
}

export interface MachineService {
  protocol: 'tcp' | 'udp';
  internal_port: number;
  ports?: MachinePort[];
  concurrency?: { type?: 'connections' | 'requests'; soft_limit?: number; hard_limit?: number };
  autostop?: 'off' | 'stop' | 'suspend' | boolean;
  autostart?: boolean;
  min_machines_running?: number;
  checks?: MachineCheck[];
}

export interface MachineFile {
  guest_path: string;
  raw_value?: string;
  secret_name?: string;
  mode?: number;
}

export interface MachineConfig {
  image: string;
  env?: Record<string, string>;
  init?: InitConfig;
  guest?: GuestConfig;
  services?: MachineService[];
  checks?: Record<string, MachineCheck>;
  restart?: { policy?: 'no' | 'on-failure' | 'always'; max_retries?: number };
  auto_destroy?: boolean;
  metadata?: Record<string, string>;
  files?: MachineFile[];
  stop_config?: { timeout?: string | number; signal?: string };
  /** A named preset (`shared-cpu-1x`…); the control plane turns it into `guest` on write. */
  size?: string;
  /** Overrides of the main process (the first one is run), as in the Machines API. */
  processes?: MachineProcess[];
  /** The agent starts the stopped machine again once per period. */
  schedule?: MachineSchedule;
  /** Volumes mounted into the machine; the control plane fills in `volume` when only `name` is given. */
  mounts?: MachineMount[];
  /** nearby extension: run as a container or a QEMU microVM; the host's `--runtime` when absent. */
  runtime?: 'container' | 'microvm';
}

export type MachineSchedule = 'hourly' | 'daily' | 'weekly' | 'monthly';

export interface MachineProcess {
  name?: string;
  exec?: string[];
  entrypoint?: string[];
  cmd?: string[];
  env?: Record<string, string>;
  user?: string;
}

/** An exclusive hold on a machine: while unexpired, changes need `fly-machine-lease-nonce`. */
export interface MachineLease {
  nonce: string;
  owner: string;
  description: string;
  /** Unix seconds, as the Machines API shows it. */
  expires_at: number;
  version: string;
}

export interface ImageRef {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  labels?: Record<string, string>;
}

export interface MachineEvent {
  type: string;
  status: string;
  source: 'user' | 'nearby' | 'agent';
  timestamp: number;
  request?: Record<string, unknown>;
}

/** What the control plane wants of a machine. `seq` grows with every request, so an agent
 *  acts on each start or stop exactly once, and a process that exits by itself is not restarted
 *  against its restart policy just because the last request was "started". */
export interface DesiredState {
  state: 'started' | 'stopped' | 'suspended' | 'destroyed';
  seq: number;
  signal?: string;
  timeout_ms?: number;
  reason?: 'api' | 'request' | 'idle' | 'deploy' | 'budget' | 'autoscale';
  /** With `started`: stop the running process first (a restart), then start it again. */
  restart?: boolean;
}

/** `machines/<app>/<id>`: written by the control plane only. */
export interface MachineRecord {
  id: string;
  name: string;
  app: string;
  region: string;
  host: string;
  instance_id: string;
  config: MachineConfig;
  image_ref: ImageRef;
  desired: DesiredState;
  events: MachineEvent[];
  created_at: string;
  updated_at: string;
  destroyed_at?: string;
  /** A cordoned machine keeps running but gets no traffic from the edge proxy. */
  cordoned?: boolean;
  lease?: MachineLease;
  /** Versions this machine ran before, newest first: each one is `replaced`. */
  previous_versions?: { instance_id: string; replaced_at: string }[];
  /** Created outside the proxy's rotation: it runs, but the edge proxy sends it no traffic. */
  skip_service_registration?: boolean;
}

/** `machine-status/<host>/<id>`: written by the agent that owns the host only. */
export interface MachineStatus {
  id: string;
  app: string;
  instance_id: string;
  state: MachineState;
  /** The `desired.seq` this status answers. */
  seq: number;
  private_ip?: string;
  ipv4?: string;
  image_digest?: string;
  pid?: number;
  exit?: { exit_code: number; signal?: string; oom_killed: boolean; at: string };
  restarts: number;
  error?: string;
  /** The image pull of the latest prepare: written while it runs (a few times a second) and when done. */
  pull?: PullStatus;
  events: MachineEvent[];
  updated_at: string;
}

/** Bytes fetched of the layers an image needs (cached layers count as done); done when layers_done = layers_total. */
export interface PullStatus {
  ref: string;
  done_bytes: number;
  total_bytes: number;
  layers_done: number;
  layers_total: number;
}

/** Newest first, at most this many events are kept per record. */
export const MAX_EVENTS = 20;

export function pushEvent(events: MachineEvent[], event: MachineEvent): MachineEvent[] {
  return [event, ...events].slice(0, MAX_EVENTS);
}
