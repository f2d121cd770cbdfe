/**
 * AppConfig → fly.toml text (what `nearby launch` writes) and → JSON (what `nearby config validate`
 * prints). Rendering undoes normalisation in Fly's own spelling ("5s", "10gb", build-target) so the
 * file stays readable by flyctl too; parseConfig(renderConfig(c)) gives c back.
 */
import { stringify } from 'smol-toml';
import { formatDuration } from '../model/duration.ts';
import type { AppConfig, CheckTiming, HttpCheck, Service, TopLevelCheck, VmConfig } from './types.ts';

type Json = Record<string, unknown>;

const HEADER =
  '# nearby.toml: the fly.toml format (https://fly.io/docs/reference/configuration/); see docs/config.md\n\n';

export function renderConfig(config: AppConfig): string {
  return HEADER + stringify(toFlyShape(config));
}

/** The config as plain JSON, without empty lists or tables: what a user checks after `config validate`. */
export function normalizedJson(config: AppConfig): unknown {
  return prune(JSON.parse(JSON.stringify(config)));
}

function toFlyShape(config: AppConfig): Json {
  const doc: Json = {};
  put(doc, 'app', config.app);
  put(doc, 'primary_region', config.primary_region);
  put(doc, 'kill_signal', config.kill_signal);
  put(doc, 'kill_timeout', duration(config.kill_timeout));
  put(doc, 'swap_size_mb', config.swap_size_mb);
  put(doc, 'console_command', config.console_command);
  put(doc, 'host_dedication_id', config.host_dedication_id);
  if (config.build) {
    const { build_target, args, ...rest } = config.build;
    doc.build = { ...rest, 'build-target': build_target, args: nonEmpty(args) };
  }
  if (config.deploy) {
    const deploy = config.deploy;
    doc.deploy = {
      ...deploy,
      release_command_timeout: duration(deploy.release_command_timeout),
      wait_timeout: duration(deploy.wait_timeout),
      release_command_vm: deploy.release_command_vm && vm(deploy.release_command_vm),
    };
  }
  if (config.autoscale) {
    const { regions, ...rest } = config.autoscale;
    doc.autoscale = { ...rest, regions: list(regions), cooldown: duration(rest.cooldown) };
  }
  put(doc, 'env', nonEmpty(config.env));
  put(doc, 'processes', config.processes);
  if (config.http_service) {
    const { checks, processes, ...rest } = config.http_service;
    doc.http_service = { ...rest, processes: list(processes), checks: list(checks.map(httpCheck)) };
  }
  put(doc, 'services', list(config.services.map(service)));
  put(
    doc,
    'checks',
    nonEmpty(
      Object.fromEntries(Object.entries(config.checks).map(([name, check]) => [name, topCheck(check)])),
    ),
  );
  put(doc, 'vm', list(config.vm.map(vm)));
  put(
    doc,
    'mounts',
    list(
      config.mounts.map((mount) => ({
        ...mount,
        initial_size: gb(mount.initial_size),
        auto_extend_size_increment: gb(mount.auto_extend_size_increment),
        auto_extend_size_limit: gb(mount.auto_extend_size_limit),
        processes: list(mount.processes),
      })),
    ),
  );
  for (const key of ['metrics', 'statics', 'files', 'restart'] as const) {
    const items: Json[] = config[key].map((item) => ({
      ...item,
      processes: 'processes' in item ? list(item.processes) : undefined,
    }));
    put(doc, key, list(items));
  }
  put(doc, 'experimental', config.experimental);
  return stripUndefined(doc) as Json;
}

function service(item: Service): Json {
  return {
    ...item,
    processes: list(item.processes),
    ports: item.ports,
    tcp_checks: list(item.tcp_checks.map(timing)),
    http_checks: list(item.http_checks.map(httpCheck)),
  };
}

function vm(item: VmConfig): Json {
  return { ...item, processes: list(item.processes) };
}

function timing(check: CheckTiming): Json {
  return {
    ...check,
    interval: duration(check.interval),
    timeout: duration(check.timeout),
    grace_period: duration(check.grace_period),
  };
}

function httpCheck(check: HttpCheck): Json {
  return { ...timing(check), headers: nonEmpty(check.headers) };
}

function topCheck(check: TopLevelCheck): Json {
  return { ...timing(check), headers: nonEmpty(check.headers), processes: list(check.processes) };
}

function duration(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : formatDuration(ms);
}

function gb(value: number | undefined): string | undefined {
  return value === undefined ? undefined : `${value}gb`;
}

function list<T>(items: T[] | undefined): T[] | undefined {
  return items && items.length > 0 ? items : undefined;
}

function nonEmpty<T extends object>(value: T | undefined): T | undefined {
  return value && Object.keys(value).length > 0 ? value : undefined;
}

function put(doc: Json, key: string, value: unknown): void {
  if (value !== undefined) doc[key] = value;
}

/** smol-toml cannot write undefined; drop those keys all the way down. */
function stripUndefined(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripUndefined);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, item]) => item !== undefined)
        .map(([key, item]) => [key, stripUndefined(item)]),
    );
  }
  return value;
}

function prune(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(prune);
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([key, item]) => [key, prune(item)] as const)
      .filter(([, item]) => !(Array.isArray(item) && item.length === 0) && !isEmptyObject(item));
    return Object.fromEntries(entries);
  }
  return value;
}

function isEmptyObject(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0
  );
}
