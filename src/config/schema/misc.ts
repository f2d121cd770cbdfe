/** The smaller sections: [processes], [experimental], [[statics]], [[files]], [[metrics]], [[restart]]. */

import { splitShellWords } from '../shell-words.ts';
import type { Table } from '../table.ts';
import type { ExperimentalConfig, FileConfig, MetricsConfig, RestartConfig, StaticConfig } from '../types.ts';

export const PROCESS_NAME = /^[a-z0-9_-]+$/;

export function readProcesses(table: Table): Record<string, string> {
  const processes: Record<string, string> = {};
  for (const [name, command] of Object.entries(table.raw)) {
    table.take(name);
    const path = table.at(name);
    if (!PROCESS_NAME.test(name)) {
      table.ctx.error(path, 'a process group name takes lowercase letters, digits, "-" and "_" only');
    } else if (typeof command !== 'string') {
      table.ctx.error(path, `expected a command line string, got ${typeof command}`);
    } else if (splitShellWords(command) === undefined) {
      table.ctx.error(path, `unbalanced quotes in ${JSON.stringify(command)}`);
    } else processes[name] = command;
  }
  return processes;
}

/** [experimental]; its Nomad-era kill_timeout (seconds) is returned apart, for the top level to use. */
export function readExperimental(table: Table): { experimental: ExperimentalConfig; killTimeout?: number } {
  const experimental: ExperimentalConfig = {};
  for (const key of ['cmd', 'entrypoint', 'exec'] as const) {
    const value = table.strings(key, { acceptString: true });
    if (value !== undefined && value.length > 0) experimental[key] = value;
  }
  const rollback = table.bool('auto_rollback');
  if (rollback !== undefined) experimental.auto_rollback = rollback;
  const flags: Record<string, string> = {
    enable_consul: 'nearby runs no Consul for apps',
    enable_etcd: 'nearby runs no etcd for apps',
    lazy_load_images: 'images are pulled whole before a machine starts',
    use_zstd: 'nearby builds push what the builder produces',
  };
  for (const [key, why] of Object.entries(flags)) {
    table.bool(key);
    table.notSupported(key, why);
  }
  table.oneOf('compression', ['gzip', 'zstd'] as const);
  table.int('compression_level', { min: 0, max: 22 });
  for (const key of ['compression', 'compression_level']) {
    table.notSupported(key, 'nearby builds push layers as the builder compressed them');
  }
  table.unsupported('attached', 'secrets exported to attached apps');
  table.string('machine_config');
  table.notSupported('machine_config', 'a raw machine config merged over fly.toml');
  table.legacy('private_network', 'every nearby machine is on the private network', false);
  table.legacy(
    'allowed_public_ports',
    'a Nomad-era setting; public ports come from [[services.ports]]',
    true,
  );
  table.legacy('metrics_port', 'set [metrics] port instead');
  table.legacy('metrics_path', 'set [metrics] path instead');
  const killTimeout = table.duration('kill_timeout', 's');
  table.finish();
  return killTimeout === undefined ? { experimental } : { experimental, killTimeout };
}

export function readStatic(table: Table): StaticConfig | undefined {
  const guestPath = table.string('guest_path', { required: true, pattern: /^\//, what: 'an absolute path' });
  const urlPrefix = table.string('url_prefix', {
    required: true,
    pattern: /^\//,
    what: 'a URL path starting with "/"',
  });
  const bucket = table.string('tigris_bucket');
  const index = table.string('index_document');
  table.finish();
  if (guestPath === undefined || urlPrefix === undefined) return undefined;
  const result: StaticConfig = { guest_path: guestPath, url_prefix: urlPrefix };
  if (bucket !== undefined) result.tigris_bucket = bucket;
  if (index !== undefined) result.index_document = index;
  return result;
}

export function readFile(table: Table): FileConfig | undefined {
  const guestPath = table.string('guest_path', { required: true, pattern: /^\//, what: 'an absolute path' });
  const localPath = table.string('local_path');
  const secretName = table.string('secret_name');
  const rawValue = table.string('raw_value');
  const processes = table.strings('processes') ?? [];
  table.finish();
  const sources = [localPath, secretName, rawValue].filter((value) => value !== undefined).length;
  if (sources !== 1) {
    table.ctx.error(table.at('guest_path'), 'needs exactly one of local_path, secret_name or raw_value');
  }
  if (guestPath === undefined || sources !== 1) return undefined;
  const file: FileConfig = { guest_path: guestPath, processes };
  if (localPath !== undefined) file.local_path = localPath;
  if (secretName !== undefined) file.secret_name = secretName;
  if (rawValue !== undefined) file.raw_value = rawValue;
  return file;
}

export function readMetrics(table: Table): MetricsConfig | undefined {
  const port = table.int('port', { min: 1, max: 65535, required: true });
  const path = table.string('path', { required: true, pattern: /^\//, what: 'a path starting with "/"' });
  const https = table.bool('https');
  const processes = table.strings('processes') ?? [];
  table.finish();
  if (port === undefined || path === undefined) return undefined;
  const metrics: MetricsConfig = { port, path, processes };
  if (https !== undefined) metrics.https = https;
  return metrics;
}

export function readRestart(table: Table): RestartConfig | undefined {
  const policy = table.oneOf('policy', ['never', 'no', 'always', 'on-failure'] as const, { required: true });
  const retries = table.int('retries') ?? table.int('max_retries');
  const processes = table.strings('processes') ?? [];
  table.finish();
  if (policy === undefined) return undefined;
  const restart: RestartConfig = { policy: policy === 'never' ? 'no' : policy, processes };
  if (retries !== undefined) restart.retries = retries;
  return restart;
}
