/**
 * AppConfig → the Machines API config of one machine in one process group, the way Fly's deploy
 * builds it: sections without `processes` belong to the default group, [[vm]] without it to all.
 */
import { readFileSync } from 'node:fs';
import { formatDuration } from '../model/duration.ts';
import type {
  MachineCheck,
  MachineConfig,
  MachineFile,
  MachinePort,
  MachineService,
} from '../model/machine.ts';
import { configFileUnreadable, unknownProcessGroup } from './errors.ts';
import { splitShellWords } from './shell-words.ts';
import { DEFAULT_VM_SIZE, VM_PRESETS } from './sizes.ts';
import type {
  AppConfig,
  CheckTiming,
  HttpCheck,
  HttpService,
  Service,
  ServicePort,
  TopLevelCheck,
  VmConfig,
} from './types.ts';

/** Process group names, sorted; ["app"] when the config has no [processes]. */
export function processGroups(config: AppConfig): string[] {
  const names = Object.keys(config.processes ?? {}).sort();
  return names.length > 0 ? names : ['app'];
}

/** "app" when it is a group, else the first group by name (Fly's rule). */
export function defaultProcessGroup(config: AppConfig): string {
  const groups = processGroups(config);
  return groups.includes('app') ? 'app' : groups[0];
}

export function toMachineConfig(
  config: AppConfig,
  options: { image: string; processGroup?: string },
): MachineConfig {
  const groups = processGroups(config);
  const group = options.processGroup ?? defaultProcessGroup(config);
  if (!groups.includes(group)) throw unknownProcessGroup(group, groups);
  const isDefault = group === defaultProcessGroup(config);
  const matches = (processes: string[] | undefined): boolean =>
    processes === undefined || processes.length === 0 ? isDefault : processes.includes(group);

  const machine: MachineConfig = { image: options.image, metadata: { fly_process_group: group } };
  const env = { ...config.env };
  if (config.primary_region) env.PRIMARY_REGION = config.primary_region;
  machine.env = env;

  const command = config.processes?.[group];
  const cmd = command ? splitShellWords(command) : config.experimental?.cmd;
  const init: MachineConfig['init'] = {};
  if (cmd && cmd.length > 0) init.cmd = cmd;
  if (config.experimental?.entrypoint) init.entrypoint = config.experimental.entrypoint;
  if (config.experimental?.exec) init.exec = config.experimental.exec;
  if (Object.keys(init).length > 0) machine.init = init;

  machine.guest = guestFor(config, group);
  const runtime = vmFor(config, group)?.runtime;
  if (runtime) machine.runtime = runtime;

  const services: MachineService[] = [];
  if (config.http_service && matches(config.http_service.processes))
    services.push(httpService(config.http_service, matches));
  for (const service of config.services) if (matches(service.processes)) services.push(plainService(service));
  if (services.length > 0) machine.services = services;

  const checks: Record<string, MachineCheck> = {};
  for (const [name, check] of Object.entries(config.checks)) {
    if (matches(check.processes)) checks[name] = topLevelCheck(check, config.http_service?.internal_port);
  }
  if (Object.keys(checks).length > 0) machine.checks = checks;

  const restart = config.restart.filter((item) => matches(item.processes)).at(-1);
  if (restart) {
    machine.restart = { policy: restart.policy };
    if (restart.retries !== undefined) machine.restart.max_retries = restart.retries;
  }

  if (config.kill_signal !== undefined || config.kill_timeout !== undefined) {
    machine.stop_config = {};
    if (config.kill_signal !== undefined) machine.stop_config.signal = config.kill_signal;
    if (config.kill_timeout !== undefined) machine.stop_config.timeout = formatDuration(config.kill_timeout);
  }

  const files = config.files.filter((file) => matches(file.processes)).map(machineFile);
  if (files.length > 0) machine.files = files;

  // By name: the control plane attaches a free volume of that name or creates one (and an update
  // keeps the machine's own), so deploy needs no volume ids.
  const mounts = config.mounts
    .filter((mount) => matches(mount.processes))
    .map((mount) => ({
      name: mount.source,
      path: mount.destination,
      ...(mount.initial_size !== undefined ? { size_gb: mount.initial_size } : {}),
    }));
  if (mounts.length > 0) machine.mounts = mounts;
  return machine;
}

/** The most specific [[vm]] for the group (one naming it beats one naming none); Fly's default otherwise. */
function vmFor(config: AppConfig, group: string): VmConfig | undefined {
  const candidates = config.vm.filter((vm) => vm.processes.length === 0 || vm.processes.includes(group));
  return candidates.find((item) => item.processes.includes(group)) ?? candidates[0];
}

function guestFor(config: AppConfig, group: string): MachineConfig['guest'] {
  const vm = vmFor(config, group);
  if (!vm) {
    const preset = VM_PRESETS[DEFAULT_VM_SIZE];
    return { cpu_kind: preset.cpu_kind, cpus: preset.cpus, memory_mb: preset.memory_mb };
  }
  return { cpu_kind: vm.cpu_kind, cpus: vm.cpus, memory_mb: vm.memory_mb };
}

function httpService(
  service: HttpService,
  matches: (processes: string[] | undefined) => boolean,
): MachineService {
  const plain: MachinePort = { port: 80, handlers: ['http'], force_https: service.force_https };
  const tls: MachinePort = { port: 443, handlers: ['tls', 'http'] };
  if (service.http_options) {
    plain.http_options = { ...service.http_options };
    tls.http_options = { ...service.http_options };
  }
  if (service.tls_options) tls.tls_options = { ...service.tls_options };
  const result: MachineService = {
    protocol: 'tcp',
    internal_port: service.internal_port,
    ports: [plain, tls],
  };
  applyCommon(result, service);
  const checks = service.checks
    .filter((check) => check.processes === undefined || matches(check.processes))
    .map((check) => httpCheck(check, service.internal_port));
  if (checks.length > 0) result.checks = checks;
  return result;
}

function plainService(service: Service): MachineService {
  const result: MachineService = {
    protocol: service.protocol,
    internal_port: service.internal_port,
    ports: service.ports.map(machinePort),
  };
  applyCommon(result, service);
  const checks = [
    ...service.tcp_checks.map((check) => ({
      type: 'tcp' as const,
      port: service.internal_port,
      ...timing(check),
    })),
    ...service.http_checks.map((check) => httpCheck(check, service.internal_port)),
  ];
  if (checks.length > 0) result.checks = checks;
  return result;
}

function applyCommon(result: MachineService, service: HttpService | Service): void {
  if (service.concurrency) result.concurrency = { type: 'connections', ...service.concurrency };
  if (service.auto_stop_machines !== undefined) result.autostop = service.auto_stop_machines;
  if (service.auto_start_machines !== undefined) result.autostart = service.auto_start_machines;
  if (service.min_machines_running !== undefined) result.min_machines_running = service.min_machines_running;
}

function machinePort(port: ServicePort): MachinePort {
  const result: MachinePort = { handlers: [...port.handlers] };
  if (port.port !== undefined) result.port = port.port;
  if (port.start_port !== undefined) result.start_port = port.start_port;
  if (port.end_port !== undefined) result.end_port = port.end_port;
  if (port.force_https !== undefined) result.force_https = port.force_https;
  if (port.tls_options) result.tls_options = { ...port.tls_options };
  if (port.http_options) result.http_options = { ...port.http_options };
  if (port.proxy_proto_options) result.proxy_proto_options = { ...port.proxy_proto_options };
  return result;
}

/** Durations leave as Go-style strings ("15s"), the Machines API's form. */
function timing(check: CheckTiming): Pick<MachineCheck, 'interval' | 'timeout' | 'grace_period'> {
  const result: Pick<MachineCheck, 'interval' | 'timeout' | 'grace_period'> = {};
  if (check.interval !== undefined) result.interval = formatDuration(check.interval);
  if (check.timeout !== undefined) result.timeout = formatDuration(check.timeout);
  if (check.grace_period !== undefined) result.grace_period = formatDuration(check.grace_period);
  return result;
}

function httpCheck(check: HttpCheck | TopLevelCheck, port: number | undefined): MachineCheck {
  const result: MachineCheck = { type: 'http', ...timing(check) };
  if (port !== undefined) result.port = port;
  result.method = check.method ?? 'GET';
  result.path = check.path ?? '/';
  result.protocol = check.protocol ?? 'http';
  if (Object.keys(check.headers).length > 0) result.headers = { ...check.headers };
  return result;
}

function topLevelCheck(check: TopLevelCheck, httpPort: number | undefined): MachineCheck {
  const port = check.port ?? httpPort;
  if (check.type === 'http') return httpCheck(check, port);
  const result: MachineCheck = { type: 'tcp', ...timing(check) };
  if (port !== undefined) result.port = port;
  return result;
}

/** Files travel base64-encoded in raw_value, as in the Machines API; local_path is read relative to the cwd, like flyctl. */
function machineFile(file: AppConfig['files'][number]): MachineFile {
  if (file.secret_name !== undefined) return { guest_path: file.guest_path, secret_name: file.secret_name };
  if (file.local_path !== undefined) {
    try {
      return { guest_path: file.guest_path, raw_value: readFileSync(file.local_path).toString('base64') };
    } catch (error) {
      throw configFileUnreadable(file.guest_path, file.local_path, error);
    }
  }
  return { guest_path: file.guest_path, raw_value: Buffer.from(file.raw_value ?? '').toString('base64') };
}
