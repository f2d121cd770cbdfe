/** parseConfig: TOML text → AppConfig, with every problem reported as an error or a warning. */
import { parse, TomlError } from 'smol-toml';
import { LineIndex } from './lines.ts';
import { readAutoscale } from './schema/autoscale.ts';
import { readBuild, readDeploy } from './schema/build-deploy.ts';
import { readTopLevelCheck } from './schema/checks.ts';
import { readHttpService } from './schema/http-service.ts';
import {
  PROCESS_NAME,
  readExperimental,
  readFile,
  readMetrics,
  readProcesses,
  readRestart,
  readStatic,
} from './schema/misc.ts';
import { readMount } from './schema/mounts.ts';
import { checkPortConflicts } from './schema/port-conflicts.ts';
import { readService } from './schema/services.ts';
import { readVm } from './schema/vm.ts';
import { Context, join, Table } from './table.ts';
import type { AppConfig, ConfigIssue, ConfigResult, TopLevelCheck } from './types.ts';

const SIGNALS = [
  'SIGINT',
  'SIGTERM',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGKILL',
  'SIGSTOP',
  'SIGHUP',
] as const;

export function parseConfig(text: string, _options: { file?: string } = {}): ConfigResult {
  let document: Record<string, unknown>;
  try {
    document = parse(text) as Record<string, unknown>;
  } catch (error) {
    if (error instanceof TomlError) {
      const reason = error.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
      return {
        errors: [
          {
            path: '',
            line: error.line,
            message: `TOML syntax error at line ${error.line}, column ${error.column}: ${reason}`,
          },
        ],
        warnings: [],
      };
    }
    throw error;
  }
  const ctx = new Context(new LineIndex(text));
  const config = readRoot(new Table(ctx, '', document));
  const errors = byLine(ctx.errors);
  const warnings = byLine(ctx.warnings);
  return errors.length > 0 ? { errors, warnings } : { config, errors, warnings };
}

function byLine(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.toSorted((a, b) => (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER));
}

function readRoot(root: Table): AppConfig {
  const ctx = root.ctx;
  const config: AppConfig = {
    env: {},
    services: [],
    checks: {},
    vm: [],
    mounts: [],
    metrics: [],
    statics: [],
    files: [],
    restart: [],
  };
  const app = root.string('app', {
    pattern: /^([a-z0-9][a-z0-9-]*)?$/,
    what: 'an app name (lowercase letters, digits and "-")',
  });
  if (app) config.app = app;
  const region = root.string('primary_region', { pattern: /^[a-z0-9-]+$/, what: 'a region name like "fra"' });
  if (region !== undefined) config.primary_region = region;
  const signal = root.oneOf('kill_signal', SIGNALS);
  if (signal !== undefined) config.kill_signal = signal;
  const killTimeout = root.duration('kill_timeout', 's');
  if (killTimeout !== undefined) config.kill_timeout = killTimeout;
  const swap = root.int('swap_size_mb');
  root.notSupported('swap_size_mb', 'machines get no swap file');
  if (swap !== undefined) config.swap_size_mb = swap;
  const console = root.string('console_command');
  if (console !== undefined) config.console_command = console;
  const dedication = root.string('host_dedication_id');
  root.notSupported('host_dedication_id', 'nearby places machines on its own hosts');
  if (dedication !== undefined) config.host_dedication_id = dedication;
  root.unsupported('machine_config', 'a raw machine config merged over fly.toml');
  root.unsupported('container', 'multi-container machines');
  root.unsupported('machine_checks', 'checks that run in a separate machine during deploys');

  const build = root.table('build');
  if (build) config.build = readBuild(build);
  const deploy = root.table('deploy');
  if (deploy) config.deploy = readDeploy(deploy);
  const autoscale = root.table('autoscale');
  if (autoscale) config.autoscale = readAutoscale(autoscale);
  config.env = root.stringMap('env', { coerce: true }) ?? {};
  readProcessesKey(root, config);
  const httpService = root.table('http_service');
  if (httpService) config.http_service = readHttpService(httpService);
  config.services = root.tables('services').flatMap((table) => readService(table) ?? []);
  const checks = root.table('checks');
  if (checks) {
    for (const name of Object.keys(checks.raw)) {
      const table = Table.from(ctx, checks.at(name), checks.take(name));
      const check = table && readTopLevelCheck(table);
      if (check) config.checks[name] = check;
    }
  }
  config.vm = [...root.tables('vm'), ...root.tables('compute', 'vm')].flatMap((table) => readVm(table) ?? []);
  config.mounts = [...root.tables('mounts'), ...root.tables('mount', 'mounts')].flatMap(
    (table) => readMount(table) ?? [],
  );
  config.metrics = root.tables('metrics').flatMap((table) => readMetrics(table) ?? []);
  config.statics = root.tables('statics').flatMap((table) => readStatic(table) ?? []);
  config.files = root.tables('files').flatMap((table) => readFile(table) ?? []);
  config.restart = root.tables('restart').flatMap((table) => readRestart(table) ?? []);
  const experimental = root.table('experimental');
  if (experimental) {
    const { experimental: value, killTimeout } = readExperimental(experimental);
    if (Object.keys(value).length > 0) config.experimental = value;
    // flyctl moves the Nomad-era [experimental] kill_timeout to the top level when that has none.
    if (killTimeout !== undefined && config.kill_timeout === undefined) config.kill_timeout = killTimeout;
  }
  root.finish({
    internal_port: '[http_service] or [[services]]',
    force_https: '[http_service] or [[services.ports]]',
    release_command: '[deploy]',
    strategy: '[deploy]',
    image: '[build]',
    dockerfile: '[build]',
    cmd: '[experimental] or [processes]',
    memory: '[[vm]]',
    memory_mb: '[[vm]]',
    cpus: '[[vm]]',
  });
  warnUnsupportedSections(root, config);
  checkCrossReferences(root, config);
  checkPortConflicts(ctx, config);
  return config;
}

/** [processes] is a table; Fly's older files wrote `processes = []`, meaning "none". */
function readProcessesKey(root: Table, config: AppConfig): void {
  const raw = root.raw.processes;
  if (Array.isArray(raw) && raw.length === 0) {
    root.take('processes');
    return;
  }
  const table = root.table('processes');
  if (!table) return;
  const processes = readProcesses(table);
  if (Object.keys(processes).length > 0) config.processes = processes;
}

function warnUnsupportedSections(root: Table, config: AppConfig): void {
  const ctx = root.ctx;
  if (config.metrics.length > 0) ctx.warn('metrics', 'not supported yet — scraping app metrics');
  if (config.statics.length > 0)
    ctx.warn('statics', 'not supported yet — serving static files from the edge; requests go to the app');
}

/** Names in `processes = [...]` must be groups the app has, and a check needs a port to probe. */
function checkCrossReferences(root: Table, config: AppConfig): void {
  const ctx = root.ctx;
  const groups = config.processes ? Object.keys(config.processes) : ['app'];
  const check = (path: string, processes: string[] | undefined): void => {
    for (const name of processes ?? []) {
      if (!PROCESS_NAME.test(name) || !groups.includes(name)) {
        const known = config.processes
          ? `[processes] defines ${groups.join(', ')}`
          : 'without [processes] the only group is "app"';
        ctx.error(`${path}.processes`, `unknown process group ${JSON.stringify(name)}: ${known}`);
      }
    }
  };
  if (config.http_service) {
    check('http_service', config.http_service.processes);
    for (const [index, item] of config.http_service.checks.entries()) {
      check(`http_service.checks[${index}]`, item.processes);
    }
  }
  for (const [index, item] of config.services.entries()) check(`services[${index}]`, item.processes);
  for (const [name, item] of Object.entries(config.checks)) {
    check(join('checks', name), item.processes);
    requirePort(root, name, item, config);
  }
  for (const key of ['vm', 'mounts', 'metrics', 'files', 'restart'] as const) {
    const list: { processes: string[] }[] = config[key];
    // A single [vm] / [mounts] table is reported under its own name, an array under key[index].
    const single = list.length === 1 && !Array.isArray(root.raw[key]);
    for (const [index, item] of list.entries()) check(single ? key : `${key}[${index}]`, item.processes);
  }
}

function requirePort(root: Table, name: string, check: TopLevelCheck, config: AppConfig): void {
  if (check.port === undefined && !config.http_service) {
    root.ctx.error(
      join(join('checks', name), 'port'),
      'is required: there is no [http_service] whose internal_port the check could use',
    );
  }
}
