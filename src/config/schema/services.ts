/** [[services]] and their [[services.ports]]: any TCP service with explicit public ports and handlers. */
import type { Table } from '../table.ts';
import type { Service, ServicePort } from '../types.ts';
import { readHttpCheck, readTcpCheck } from './checks.ts';
import { INTERNAL_PORT } from './http-service.ts';
import { readAutostop, readConcurrency, readHttpOptions, readTlsOptions } from './proxy-options.ts';

const PUBLIC_PORT = { min: 1, max: 65535, acceptString: true } as const;
const HANDLERS = ['http', 'tls', 'proxy_proto', 'pg_tls', 'edge_http'] as const;

function readPort(table: Table, protocol: string | undefined): ServicePort | undefined {
  const port = table.int('port', PUBLIC_PORT);
  const start = table.int('start_port', PUBLIC_PORT);
  const end = table.int('end_port', PUBLIC_PORT);
  const handlers = table.strings('handlers') ?? [];
  const forceHttps = table.bool('force_https');
  const tls = readTlsOptions(table);
  const http = readHttpOptions(table);
  const proxyProto = table.table('proxy_proto_options');
  let version: 'v1' | 'v2' | undefined;
  if (proxyProto) {
    version = proxyProto.oneOf('version', ['v1', 'v2'] as const);
    proxyProto.finish();
  }
  table.finish({ protocol: 'its [[services]] table', internal_port: 'its [[services]] table' });
  for (const handler of handlers) {
    if (!(HANDLERS as readonly string[]).includes(handler)) {
      table.ctx.error(
        table.at('handlers'),
        `unknown handler ${JSON.stringify(handler)}: expected ${HANDLERS.map((item) => `"${item}"`).join(', ')}`,
      );
    } else if (handler === 'pg_tls' || handler === 'edge_http') {
      table.ctx.warn(
        table.at('handlers'),
        `not supported yet — the ${handler} handler; the port is passed through as raw TCP`,
      );
    }
  }
  if (protocol === 'udp' && handlers.length > 0)
    table.ctx.error(table.at('handlers'), 'UDP ports take no handlers');
  if (!table.has('port') && !table.has('start_port') && !table.has('end_port')) {
    table.ctx.error(table.at('port'), 'is required: a port, or start_port and end_port for a range');
    return undefined;
  }
  if ((start === undefined) !== (end === undefined)) {
    table.ctx.error(
      table.at(start === undefined ? 'start_port' : 'end_port'),
      'is required with the other end of the range',
    );
  } else if (start !== undefined && end !== undefined && start > end) {
    table.ctx.error(table.at('start_port'), `must not be above end_port (${end}), got ${start}`);
  }
  const result: ServicePort = { handlers };
  if (port !== undefined) result.port = port;
  if (start !== undefined) result.start_port = start;
  if (end !== undefined) result.end_port = end;
  if (forceHttps !== undefined) result.force_https = forceHttps;
  if (tls) result.tls_options = tls;
  if (http) result.http_options = http;
  if (version) result.proxy_proto_options = { version };
  return result;
}

/** Undefined for an empty [[services]] table (Fly's parser drops those too). */
export function readService(table: Table): Service | undefined {
  if (Object.keys(table.raw).length === 0) return undefined;
  const protocol = table.oneOf('protocol', ['tcp', 'udp'] as const, { required: true });
  const ports = table.tables('ports').flatMap((port) => readPort(port, protocol) ?? []);
  const allRanges = ports.length > 0 && ports.every((port) => port.port === undefined);
  // internal_port = 0 on a port range means "the same port the client used", as Fly deploys it.
  const internalPort = table.int('internal_port', {
    ...INTERNAL_PORT,
    min: allRanges ? 0 : 1,
    required: true,
  });
  const service: Service = {
    protocol: protocol ?? 'tcp',
    internal_port: internalPort ?? 0,
    ports,
    tcp_checks: table.tables('tcp_checks').map(readTcpCheck),
    http_checks: table.tables('http_checks').map((check) => readHttpCheck(check)),
    processes: table.strings('processes') ?? [],
  };
  const autostop = readAutostop(table);
  const autostart = table.bool('auto_start_machines');
  const minRunning = table.int('min_machines_running');
  const concurrency = readConcurrency(table);
  table.legacy(
    'script_checks',
    'script checks ran on Fly’s Nomad platform only; use [checks] with an http or tcp check',
    true,
  );
  table.unsupported('machine_checks', 'checks that run in a separate machine during deploys');
  table.finish({
    force_https: '[[services.ports]]',
    handlers: '[[services.ports]]',
    port: '[[services.ports]]',
  });
  if (autostop !== undefined) service.auto_stop_machines = autostop;
  if (autostart !== undefined) service.auto_start_machines = autostart;
  if (minRunning !== undefined) service.min_machines_running = minRunning;
  if (concurrency) service.concurrency = concurrency;
  if (protocol === 'udp')
    table.ctx.warn(
      table.at('protocol'),
      'not supported yet — UDP services; the edge proxy forwards TCP only',
    );
  if (protocol === undefined || internalPort === undefined) return undefined;
  if (!table.has('ports'))
    table.ctx.warn(
      table.at('ports'),
      'no [[services.ports]]: the service is reachable on the private network only',
    );
  return service;
}
