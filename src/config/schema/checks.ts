/** Health checks: [[services.tcp_checks]], [[services.http_checks]], [[http_service.checks]] and [checks.<name>]. */
import type { Table } from '../table.ts';
import type { CheckTiming, HttpCheck, TopLevelCheck } from '../types.ts';

const PORT = { min: 1, max: 65535, acceptString: true } as const;

/** interval/timeout/grace_period: a bare number in a check is milliseconds (Fly's Nomad-era files wrote 10000). */
export function readTiming(table: Table): CheckTiming {
  const timing: CheckTiming = {};
  const interval = table.duration('interval', 'ms');
  const timeout = table.duration('timeout', 'ms');
  const gracePeriod = table.duration('grace_period', 'ms');
  if (interval !== undefined) timing.interval = interval;
  if (timeout !== undefined) timing.timeout = timeout;
  if (gracePeriod !== undefined) timing.grace_period = gracePeriod;
  table.legacy('restart_limit', 'a Nomad-era setting; machines follow [[restart]] instead', false);
  return timing;
}

export function readHeaders(table: Table): Record<string, string> {
  return table.stringMap('headers', { coerce: true }) ?? {};
}

function readHttpFields(table: Table): Omit<HttpCheck, keyof CheckTiming | 'processes'> {
  const fields: Omit<HttpCheck, keyof CheckTiming | 'processes'> = { headers: {} };
  const method = table.string('method', { pattern: /^[A-Za-z]+$/, what: 'an HTTP method like "GET"' });
  const path = table.string('path', { pattern: /^\//, what: 'a path starting with "/"' });
  const protocol = table.oneOf('protocol', ['http', 'https'] as const);
  const skipVerify = table.bool('tls_skip_verify');
  const serverName = table.string('tls_server_name');
  if (method !== undefined) fields.method = method.toUpperCase();
  if (path !== undefined) fields.path = path;
  if (protocol !== undefined) fields.protocol = protocol;
  if (skipVerify !== undefined) fields.tls_skip_verify = skipVerify;
  if (serverName !== undefined) fields.tls_server_name = serverName;
  // Kept for round trips, but the machine config's check has no field for them yet.
  if (skipVerify === true)
    table.notSupported('tls_skip_verify', 'https checks always verify the certificate');
  table.notSupported('tls_server_name', 'https checks use the machine address as the server name');
  fields.headers = readHeaders(table);
  return fields;
}

export function readTcpCheck(table: Table): CheckTiming {
  const check = readTiming(table);
  table.finish({ method: 'an http check', path: 'an http check' });
  return check;
}

export function readHttpCheck(table: Table, options: { processes?: boolean } = {}): HttpCheck {
  const check: HttpCheck = { ...readTiming(table), ...readHttpFields(table) };
  if (options.processes) {
    const processes = table.strings('processes');
    if (processes !== undefined && processes.length > 0) check.processes = processes;
  }
  table.finish();
  return check;
}

/** [checks.<name>]: machine-level checks; Fly's machines run only http and tcp ones. */
export function readTopLevelCheck(table: Table): TopLevelCheck | undefined {
  const isScript = table.raw.type === 'script';
  if (isScript) {
    table.take('type');
    table.ctx.error(
      table.at('type'),
      'script checks ran on Fly’s Nomad platform only: machines run "http" and "tcp" checks',
    );
  }
  const type = isScript ? undefined : table.oneOf('type', ['http', 'tcp'] as const, { required: true });
  const port = table.int('port', PORT);
  const timing = readTiming(table);
  const http = readHttpFields(table);
  const processes = table.strings('processes') ?? [];
  for (const scriptKey of ['command', 'args']) {
    if (table.take(scriptKey) !== undefined && type !== undefined) {
      table.ctx.error(
        table.at(scriptKey),
        'only script checks take a command, and machines run http and tcp checks only',
      );
    }
  }
  table.finish();
  if (type === undefined) return undefined;
  const check: TopLevelCheck = { type, ...timing, headers: http.headers, processes };
  if (port !== undefined) check.port = port;
  if (type === 'http') Object.assign(check, http);
  return check;
}
