/**
 * One structured access-log line per request: HAProxy sends each request's log line (a plain
 * space-separated format, below) over UDP on loopback, and this turns it into a pino line and
 * into the per-app metrics. UDP because HAProxy never waits on it, whatever Node is doing.
 */
import { createSocket } from 'node:dgram';
import type pino from 'pino';
import type { ProxyMetrics } from './metrics.ts';

/** The version tag lets a line from another format be told apart and logged as is. */
const TAG = 'nearby1';

/** HAProxy `log-format` for HTTP frontends; the URI goes last because only it may hold anything. */
export const ACCESS_LOG_FORMAT = `${TAG} %ID %[var(txn.app)] %b %s %ST %TR %Tw %Tc %Tr %Ta %B %ci %HM %HV %HU`;

export interface AccessLogEntry {
  request_id: string;
  app?: string;
  backend: string;
  machine?: string;
  status: number;
  method: string;
  path: string;
  http_version: string;
  client_ip: string;
  bytes: number;
  /** Milliseconds: receiving the request, queued, connecting, the machine's answer, in all. */
  timing: { request_ms: number; queue_ms: number; connect_ms: number; response_ms: number; total_ms: number };
}

const none = (value: string) => (value === '-' || value === '' || value === '<NOSRV>' ? undefined : value);

export function parseAccessLine(line: string): AccessLogEntry | undefined {
  const fields = line.trim().split(' ');
  if (fields[0] !== TAG || fields.length < 16) return undefined;
  const [, id, app, backend, server, status, tr, tw, tc, trr, ta, bytes, client, method, version] = fields;
  return {
    request_id: id,
    app: none(app),
    backend,
    machine: none(server),
    status: Number(status),
    method,
    path: fields.slice(15).join(' '),
    http_version: version,
    client_ip: client,
    bytes: Number(bytes),
    timing: {
      request_ms: Number(tr),
      queue_ms: Number(tw),
      connect_ms: Number(tc),
      response_ms: Number(trr),
      total_ms: Number(ta),
    },
  };
}

/** `app_<app>` or `app_<app>_<port>_<kind>` (src/proxy/routes.ts; app names have no `_`). */
export function appOfBackend(backend: string): string | undefined {
  return backend.startsWith('app_') ? backend.slice(4).split('_')[0] : undefined;
}

export interface AccessLog {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on a loopback UDP port for HAProxy's lines. */
export async function startAccessLog(options: {
  region: string;
  log: pino.Logger;
  metrics: ProxyMetrics;
}): Promise<AccessLog> {
  const { region, metrics } = options;
  const log = options.log.child({ component: 'access' });
  const cache = new Map<
    string,
    { requests: { value: number }; duration: { observe(value: number): void } }
  >();
  const socket = createSocket('udp4');
  socket.on('message', (message) => {
    const text = message.toString('utf8');
    const entry = parseAccessLine(text);
    if (entry === undefined) {
      log.info(text.trim());
      return;
    }
    // Labels come from the backend HAProxy chose (only real apps have one), never from the Host a
    // client sent: that would let anyone grow the metrics without bound.
    const app = appOfBackend(entry.backend) ?? '-';
    const statusClass = `${Math.floor(entry.status / 100)}xx`;
    // One line per request: the series are looked up once per app and status class.
    const seriesKey = `${app} ${statusClass}`;
    let series = cache.get(seriesKey);
    if (series === undefined) {
      series = {
        requests: metrics.requests.series({ app, region, status_class: statusClass }),
        duration: metrics.duration.series({ app, region }),
      };
      cache.set(seriesKey, series);
    }
    series.requests.value++;
    if (entry.timing.total_ms >= 0) series.duration.observe(entry.timing.total_ms / 1000);
    // The proxy's logger already carries the region.
    log.info(entry, `${entry.method} ${entry.path} ${entry.status}`);
  });
  socket.on('error', (error) => log.warn({ err: error.message }, 'access log socket error'));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  // Bursts of requests must not drop lines in the kernel before Node reads them.
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
  } catch {}
  const { address, port } = socket.address();
  return {
    host: address,
    port,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}
