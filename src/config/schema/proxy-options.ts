/** What the edge proxy reads per service or port: concurrency, autostop, TLS and HTTP options. */
import type { Table } from '../table.ts';
import type { Autostop, Concurrency, HttpOptions, TlsOptions } from '../types.ts';

export function readConcurrency(parent: Table): Concurrency | undefined {
  const raw = parent.raw.concurrency;
  // Fly's oldest files wrote concurrency = "soft,hard"; its parser still takes it.
  if (typeof raw === 'string') {
    parent.take('concurrency');
    const match = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(raw);
    if (match) return { type: 'requests', soft_limit: Number(match[1]), hard_limit: Number(match[2]) };
    parent.ctx.error(
      parent.at('concurrency'),
      `expected a [${parent.at('concurrency')}] table, got ${JSON.stringify(raw)}`,
    );
    return undefined;
  }
  const table = parent.table('concurrency');
  if (!table) return undefined;
  const concurrency: Concurrency = {};
  const type = table.oneOf('type', ['connections', 'requests'] as const);
  const soft = table.int('soft_limit', { min: 1 });
  const hard = table.int('hard_limit', { min: 1 });
  table.finish();
  if (type !== undefined) concurrency.type = type;
  if (soft !== undefined) concurrency.soft_limit = soft;
  if (hard !== undefined) concurrency.hard_limit = hard;
  if (soft !== undefined && hard !== undefined && soft > hard) {
    table.ctx.error(table.at('soft_limit'), `must not be above hard_limit (${hard}), got ${soft}`);
  }
  return concurrency;
}

/** auto_stop_machines: "off" | "stop" | "suspend", with Fly's older true/false accepted. */
export function readAutostop(table: Table): Autostop | undefined {
  const raw = table.raw.auto_stop_machines;
  if (typeof raw === 'boolean') {
    table.take('auto_stop_machines');
    return raw ? 'stop' : 'off';
  }
  const value = table.oneOf('auto_stop_machines', ['off', 'stop', 'suspend'] as const);
  return value;
}

export function readTlsOptions(parent: Table): TlsOptions | undefined {
  const table = parent.table('tls_options');
  if (!table) return undefined;
  const options: TlsOptions = {};
  const alpn = table.strings('alpn');
  const versions = table.strings('versions');
  const selfSigned = table.bool('default_self_signed');
  table.notSupported('default_self_signed', 'nearby answers with its own or an ACME certificate');
  table.finish();
  if (alpn !== undefined) options.alpn = alpn;
  if (versions !== undefined) {
    const bad = versions.filter((version) => !['TLSv1.2', 'TLSv1.3'].includes(version));
    if (bad.length > 0)
      table.ctx.error(
        table.at('versions'),
        `expected "TLSv1.2" and/or "TLSv1.3", got ${JSON.stringify(bad)}`,
      );
    options.versions = versions;
  }
  if (selfSigned !== undefined) options.default_self_signed = selfSigned;
  return options;
}

export function readHttpOptions(parent: Table): HttpOptions | undefined {
  const table = parent.table('http_options');
  if (!table) return undefined;
  const options: HttpOptions = {};
  const h2 = table.bool('h2_backend');
  const idle = table.int('idle_timeout', { min: 1, what: 'a number of seconds ≥ 1' });
  const compress = table.bool('compress');
  const headersRead = table.int('headers_read_timeout', { min: 1, what: 'a number of seconds ≥ 1' });
  table.notSupported('compress', 'the proxy does not compress responses');
  table.notSupported('headers_read_timeout', 'the proxy uses its own header timeout');
  table.unsupported('replay_cache', 'replays are answered per request, not cached');
  const response = table.table('response');
  table.finish({ headers: `[${table.at('response')}]` });
  if (h2 !== undefined) options.h2_backend = h2;
  if (idle !== undefined) options.idle_timeout = idle;
  if (compress !== undefined) options.compress = compress;
  if (headersRead !== undefined) options.headers_read_timeout = headersRead;
  if (response) {
    const pristine = response.bool('pristine');
    const headers = response.table('headers');
    response.finish();
    options.response = {};
    if (pristine !== undefined) options.response.pristine = pristine;
    if (headers) {
      const values: Record<string, string | boolean | string[]> = {};
      for (const [name, value] of Object.entries(headers.raw)) {
        headers.take(name);
        const ok =
          typeof value === 'string' ||
          typeof value === 'boolean' ||
          (Array.isArray(value) && value.every((item) => typeof item === 'string'));
        if (ok) values[name] = value as string | boolean | string[];
        else
          table.ctx.error(
            headers.at(name),
            `expected a string, false (to remove it) or a list of strings, got ${String(value)}`,
          );
      }
      options.response.headers = values;
    }
  }
  return options;
}
