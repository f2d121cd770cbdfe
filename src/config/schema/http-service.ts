/** [http_service]: the common case of one HTTP app behind ports 80 and 443. */
import type { Table } from '../table.ts';
import type { HttpService } from '../types.ts';
import { readHttpCheck } from './checks.ts';
import { readAutostop, readConcurrency, readHttpOptions, readTlsOptions } from './proxy-options.ts';

export const INTERNAL_PORT = { min: 1, max: 65535, acceptString: true } as const;

export function readHttpService(table: Table): HttpService | undefined {
  const internalPort = table.int('internal_port', { ...INTERNAL_PORT, required: true });
  const service: HttpService = {
    internal_port: internalPort ?? 0,
    force_https: table.bool('force_https') ?? false,
    processes: table.strings('processes') ?? [],
    checks: table.tables('checks').map((check) => readHttpCheck(check, { processes: true })),
  };
  const autostop = readAutostop(table);
  const autostart = table.bool('auto_start_machines');
  const minRunning = table.int('min_machines_running');
  const concurrency = readConcurrency(table);
  const tls = readTlsOptions(table);
  const http = readHttpOptions(table);
  table.unsupported('machine_checks', 'checks that run in a separate machine during deploys');
  table.unsupported('proxy_proto_options', 'the PROXY protocol is set per port in [[services.ports]]');
  table.finish({
    protocol: '[[services]] (an [http_service] is always tcp)',
    ports: '[[services]] (an [http_service] always listens on 80 and 443)',
    http_checks: '[[http_service.checks]]',
    tcp_checks: '[[services]]',
  });
  if (autostop !== undefined) service.auto_stop_machines = autostop;
  if (autostart !== undefined) service.auto_start_machines = autostart;
  if (minRunning !== undefined) service.min_machines_running = minRunning;
  if (concurrency) service.concurrency = concurrency;
  if (tls) service.tls_options = tls;
  if (http) service.http_options = http;
  return internalPort === undefined ? undefined : service;
}
