/**
 * `/metrics` on every proxy: HAProxy's built-in Prometheus exporter (reached on a unix socket
 * HAProxy listens on) followed by nearby's own metrics and its process's memory, in one scrape.
 */
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pino from 'pino';
import { errorMessage } from '../errors.ts';
import type { MachineOfServer } from './autostop-stats.ts';
import type { HttpStats } from './http-stats.ts';
import type { ProxyMetrics } from './metrics.ts';

export interface MetricsServer {
  /** `host:port` it listens on. */
  address: string;
  close(): Promise<void>;
}

function haproxyMetrics(socketPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path: '/metrics', timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      response.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('HAProxy did not answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

const SERVER_LABELS = /\{proxy="([^"]*)",server="([^"]*)"/;

/**
 * HAProxy labels per-server series with the slot (`server="s3"`): name the machine instead, and
 * leave out free slots, so that series follow machines. Runs per scrape, never per request.
 */
export function nameServers(exposition: string, machineOf: MachineOfServer): string {
  const lines: string[] = [];
  for (const line of exposition.split('\n')) {
    const match = line.startsWith('haproxy_server_') ? SERVER_LABELS.exec(line) : null;
    if (match === null) {
      lines.push(line);
      continue;
    }
    const machine = machineOf(match[1], match[2]);
    if (machine !== undefined) {
      lines.push(line.replace(SERVER_LABELS, `{proxy="${match[1]}",server="${machine}"`));
    }
  }
  return lines.join('\n');
}

/** Listens on `host:port`. @throws the listen error (EADDRINUSE…) */
/** This process's memory, under the names Prometheus' Node.js clients use (a leak shows here first). */
export function processMetrics(): string {
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  return [
    '# HELP process_resident_memory_bytes Resident memory size of the nearby process in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${rss}`,
    '# HELP nodejs_heap_size_used_bytes V8 heap used by the nearby process in bytes.',
    '# TYPE nodejs_heap_size_used_bytes gauge',
    `nodejs_heap_size_used_bytes ${heapUsed}`,
    '# HELP nodejs_heap_size_total_bytes V8 heap allocated by the nearby process in bytes.',
    '# TYPE nodejs_heap_size_total_bytes gauge',
    `nodejs_heap_size_total_bytes ${heapTotal}`,
    '',
  ].join('\n');
}

export async function startMetricsServer(options: {
  host: string;
  port: number;
  haproxySocket: string;
  metrics: ProxyMetrics;
  httpStats: HttpStats;
  machineOf: MachineOfServer;
  log: pino.Logger;
}): Promise<MetricsServer> {
  const server = createServer(async (request, response) => {
    if ((request.url ?? '').split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n');
      return;
    }
    let haproxy = '';
    try {
      haproxy = nameServers(await haproxyMetrics(options.haproxySocket), options.machineOf);
    } catch (error) {
      options.log.warn({ err: errorMessage(error) }, 'HAProxy metrics not available');
      haproxy = '# HAProxy metrics not available right now\n';
    }
    // Last values seen are rendered if HAProxy does not answer right now.
    await options.httpStats
      .sample()
      .catch((error) => options.log.warn({ err: errorMessage(error) }, 'HAProxy counters not available'));
    response
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
      .end(`${haproxy}${options.httpStats.render()}${options.metrics.render()}${processMetrics()}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    address: `${address.address}:${address.port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
