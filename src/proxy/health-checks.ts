/**
 * A service's health checks (`[[services.tcp_checks]]`, `[[services.http_checks]]`,
 * `[[http_service.checks]]`, top-level `[checks]`) as HAProxy backend check rules. Several checks
 * run in sequence on every check round; a server passes when all of them do. Pure.
 */
import { parseDurationMs } from '../model/duration.ts';
import type { MachineCheck } from '../model/machine.ts';
import { checkDefaults } from './services.ts';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const METHOD = /^[A-Z]{1,16}$/;
const PATH = /^\/[^\s"'\\]*$/;

/** A value for a double-quoted log-format argument: no line breaks, quotes and `%` escaped. */
const logFormatArg = (text: string) =>
  `"${text
    .replace(/[\r\n]/g, ' ')
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/%/g, '%%')}"`;

/**
 * Backend lines for these checks, or none. `host` is sent as the Host header unless a check
 * sets its own. Unusable values (a path with spaces, a strange method) fall back to GET /.
 */
export function renderCheckRules(checks: MachineCheck[], internalPort: number, host: string): string[] {
  if (checks.length === 0) return [];
  const timeout = Math.max(
    ...checks.map((check) => parseDurationMs(check.timeout) ?? checkDefaults.timeoutMs),
  );
  const port = (check: MachineCheck) =>
    Number.isInteger(check.port) && (check.port ?? 0) > 0 ? (check.port as number) : internalPort;
  const lines = [`  timeout check ${Math.max(100, timeout)}ms`];
  if (!checks.some((check) => check.type === 'http')) {
    lines.push('  option tcp-check');
    for (const check of checks) lines.push(`  tcp-check connect port ${port(check)}`);
    return lines;
  }
  lines.push('  option httpchk');
  for (const check of checks) {
    lines.push(`  http-check connect port ${port(check)}`);
    if (check.type !== 'http') continue;
    const method = METHOD.test(check.method ?? '') ? check.method : 'GET';
    const path = PATH.test(check.path ?? '') ? check.path : '/';
    const headers = Object.entries(check.headers ?? {})
      .filter(([name]) => TOKEN.test(name))
      .flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((one) => [name, one] as const),
      );
    if (!headers.some(([name]) => name.toLowerCase() === 'host')) headers.unshift(['Host', host]);
    const hdrs = headers.map(([name, value]) => ` hdr ${name} ${logFormatArg(value)}`).join('');
    lines.push(`  http-check send meth ${method} uri ${path} ver HTTP/1.1${hdrs}`);
    lines.push('  http-check expect status 200-399');
  }
  return lines;
}
