/**
 * AppConfig: a fly.toml / nearby.toml, validated and normalised. Key names stay Fly's so the file and
 * this object read alike; values are normalised: every duration is integer milliseconds, memory is
 * MiB, volume sizes are GB, auto_stop_machines is "off" | "stop" | "suspend", and list sections are
 * always arrays (empty when absent). See docs/config.md for why.
 */
import type { AutoscaleConfig } from '../model/autoscale.ts';

export type { AutoscaleConfig };

export interface ConfigIssue {
  /** Machine-readable key path, e.g. `services[0].ports[1].port`. */
  path: string;
  /** What a user reads: the key in fly.toml terms, what is wrong and what is expected. */
  message: string;
  line?: number;
}

export interface ConfigResult {
  config?: AppConfig;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

export type Autostop = 'off' | 'stop' | 'suspend';

export interface BuildConfig {
  image?: string;
  dockerfile?: string;
  ignorefile?: string;
  /** `build-target` in fly.toml. */
  build_target?: string;
  args: Record<string, string>;
  builder?: string;
  buildpacks?: string[];
  builtin?: string;
  settings?: Record<string, unknown>;
}

export interface DeployConfig {
  strategy?: 'rolling' | 'immediate' | 'canary' | 'bluegreen';
  release_command?: string;
  /** ms */
  release_command_timeout?: number;
  release_command_vm?: VmConfig;
  /** A fraction of the group when below 1, else a number of machines. */
  max_unavailable?: number;
  /** ms */
  wait_timeout?: number;
  seed_command?: string;
}

export interface Concurrency {
  type?: 'connections' | 'requests';
  soft_limit?: number;
  hard_limit?: number;
}

export interface TlsOptions {
  alpn?: string[];
  versions?: string[];
  default_self_signed?: boolean;
}

export interface HttpOptions {
  compress?: boolean;
  h2_backend?: boolean;
  /** seconds, as Fly's proxy takes it */
  idle_timeout?: number;
  /** seconds */
  headers_read_timeout?: number;
  response?: { pristine?: boolean; headers?: Record<string, string | boolean | string[]> };
}

export interface CheckTiming {
  /** ms */
  interval?: number;
  /** ms */
  timeout?: number;
  /** ms */
  grace_period?: number;
}

export interface HttpCheck extends CheckTiming {
  method?: string;
  path?: string;
  protocol?: 'http' | 'https';
  tls_skip_verify?: boolean;
  tls_server_name?: string;
  headers: Record<string, string>;
  /** Only in [[http_service.checks]] of configs with several process groups. */
  processes?: string[];
}

export interface TopLevelCheck extends CheckTiming {
  type: 'http' | 'tcp';
  port?: number;
  method?: string;
  path?: string;
  protocol?: 'http' | 'https';
  tls_skip_verify?: boolean;
  tls_server_name?: string;
  headers: Record<string, string>;
  processes: string[];
}

export interface ServicePort {
  port?: number;
  start_port?: number;
  end_port?: number;
  handlers: string[];
  force_https?: boolean;
  tls_options?: TlsOptions;
  http_options?: HttpOptions;
  proxy_proto_options?: { version: 'v1' | 'v2' };
}

interface ServiceCommon {
  internal_port: number;
  auto_stop_machines?: Autostop;
  auto_start_machines?: boolean;
  min_machines_running?: number;
  concurrency?: Concurrency;
  processes: string[];
}

export interface HttpService extends ServiceCommon {
  force_https: boolean;
  tls_options?: TlsOptions;
  http_options?: HttpOptions;
  checks: HttpCheck[];
}

export interface Service extends ServiceCommon {
  protocol: 'tcp' | 'udp';
  ports: ServicePort[];
  tcp_checks: CheckTiming[];
  http_checks: HttpCheck[];
}

export interface VmConfig {
  /** The preset named in fly.toml, if any; cpus/cpu_kind/memory_mb below are already resolved. */
  size?: string;
  cpu_kind: 'shared' | 'performance';
  cpus: number;
  memory_mb: number;
  gpus?: number;
  gpu_kind?: string;
  kernel_args?: string[];
  host_dedication_id?: string;
  persist_rootfs?: 'never' | 'always' | 'restart';
  /** nearby extension: `microvm` runs the machines as QEMU microVMs; absent, the host's default. */
  runtime?: 'container' | 'microvm';
  processes: string[];
}

export interface MountConfig {
  source: string;
  destination: string;
  /** GB */
  initial_size?: number;
  snapshot_retention?: number;
  scheduled_snapshots?: boolean;
  auto_extend_size_threshold?: number;
  /** GB */
  auto_extend_size_increment?: number;
  /** GB */
  auto_extend_size_limit?: number;
  processes: string[];
}

export interface MetricsConfig {
  port: number;
  path: string;
  https?: boolean;
  processes: string[];
}

export interface StaticConfig {
  guest_path: string;
  url_prefix: string;
  tigris_bucket?: string;
  index_document?: string;
}

export interface FileConfig {
  guest_path: string;
  local_path?: string;
  secret_name?: string;
  raw_value?: string;
  processes: string[];
}

export interface RestartConfig {
  /** Fly's "never" is normalised to the Machines API's "no". */
  policy: 'no' | 'always' | 'on-failure';
  retries?: number;
  processes: string[];
}

export interface ExperimentalConfig {
  cmd?: string[];
  entrypoint?: string[];
  exec?: string[];
  auto_rollback?: boolean;
}

export interface AppConfig {
  app?: string;
  primary_region?: string;
  kill_signal?: string;
  /** ms */
  kill_timeout?: number;
  swap_size_mb?: number;
  console_command?: string;
  host_dedication_id?: string;
  build?: BuildConfig;
  deploy?: DeployConfig;
  /** [autoscale] (nearby's own section): absent, the autoscaler leaves the app alone. */
  autoscale?: AutoscaleConfig;
  env: Record<string, string>;
  /** Absent: one group, "app", running the image's own command. */
  processes?: Record<string, string>;
  http_service?: HttpService;
  services: Service[];
  checks: Record<string, TopLevelCheck>;
  vm: VmConfig[];
  mounts: MountConfig[];
  metrics: MetricsConfig[];
  statics: StaticConfig[];
  files: FileConfig[];
  restart: RestartConfig[];
  experimental?: ExperimentalConfig;
}
