/**
 * What a machine's `services` ask of the proxy: public ports (endpoints) with their handlers, the
 * backend each one feeds, and the HAProxy server options a machine gets there. Pure.
 */
import { parseDurationMs } from '../model/duration.ts';
import type { MachineConfig, MachinePort, MachineService } from '../model/machine.ts';

/** The public ports that stand for the shared listeners: 80 → the HTTP listen, 443 → the TLS listen. */
export const SHARED_HTTP_PORT = 80;
export const SHARED_TLS_PORT = 443;

export type ProxyProto = 'v1' | 'v2';

/** One public port (or range) of one service, as the proxy serves it. */
export interface Endpoint {
  /** First public port; `endPort` is set for a range. */
  port: number;
  endPort?: number;
  tls: boolean;
  http: boolean;
  proxyProto?: ProxyProto;
  forceHttps: boolean;
  h2Backend: boolean;
  /** ALPN offered on a dedicated TLS port (`tls_options.alpn`). */
  alpn?: string[];
  /** `tls_options.versions`, e.g. ["TLSv1.3"]; TLS 1.0/1.1 are never offered. */
  tlsVersions?: string[];
  internalPort: number;
  /** The backend this endpoint feeds, without the app: `http`, `h2`, `tcp`, `pp1`… with the internal port. */
  backendKey: string;
  service: MachineService;
}

/** Where a port of the app config is served on this single host. */
export function isSharedEndpoint(endpoint: Endpoint): boolean {
  return (
    endpoint.endPort === undefined &&
    endpoint.http &&
    ((endpoint.port === SHARED_HTTP_PORT && !endpoint.tls) ||
      (endpoint.port === SHARED_TLS_PORT && endpoint.tls))
  );
}

function backendKey(mode: 'http' | 'tcp', internalPort: number, h2: boolean, proto?: ProxyProto): string {
  const variant =
    mode === 'http' ? (h2 ? 'h2' : 'http') : proto === undefined ? 'tcp' : `pp${proto.slice(1)}`;
  return `${internalPort}_${variant}`;
}

function endpointOf(service: MachineService, port: MachinePort): Endpoint | undefined {
  const handlers = port.handlers ?? [];
  const start = port.port ?? port.start_port;
  if (start === undefined || !Number.isInteger(start) || start < 1 || start > 65535) return undefined;
  const end = port.port === undefined ? port.end_port : undefined;
  if (end !== undefined && (!Number.isInteger(end) || end < start || end > 65535)) return undefined;
  const http = handlers.includes('http');
  const proxyProto = handlers.includes('proxy_proto')
    ? (port.proxy_proto_options?.version ?? 'v1')
    : undefined;
  const h2Backend = http && port.http_options?.h2_backend === true;
  const tlsOptions = port.tls_options as { alpn?: unknown; versions?: unknown } | undefined;
  const strings = (value: unknown) =>
    Array.isArray(value) && value.every((item) => typeof item === 'string' && /^[A-Za-z0-9./-]+$/.test(item))
      ? (value as string[])
      : undefined;
  return {
    port: start,
    ...(end !== undefined && end !== start ? { endPort: end } : {}),
    tls: handlers.includes('tls'),
    http,
    ...(proxyProto !== undefined && !http ? { proxyProto } : {}),
    forceHttps: port.force_https === true,
    h2Backend,
    ...(strings(tlsOptions?.alpn) ? { alpn: strings(tlsOptions?.alpn) } : {}),
    ...(strings(tlsOptions?.versions) ? { tlsVersions: strings(tlsOptions?.versions) } : {}),
    internalPort: service.internal_port,
    backendKey: backendKey(http ? 'http' : 'tcp', service.internal_port, h2Backend, proxyProto),
    service,
  };
}

/** Every TCP endpoint of a machine config, in config order. */
export function endpoints(config: MachineConfig): Endpoint[] {
  const result: Endpoint[] = [];
  for (const service of config.services ?? []) {
    if (service.protocol !== 'tcp' || !Number.isInteger(service.internal_port) || service.internal_port < 1) {
      continue;
    }
    for (const port of service.ports ?? []) {
      const endpoint = endpointOf(service, port);
      if (endpoint !== undefined) result.push(endpoint);
    }
  }
  return result;
}

/** Health checks of a service: its own, and top-level ones aimed at its internal port. */
export function serviceChecks(config: MachineConfig, service: MachineService) {
  const topLevel = Object.values(config.checks ?? {}).filter(
    (check) => (check.port ?? service.internal_port) === service.internal_port,
  );
  return [...(service.checks ?? []), ...topLevel];
}

const ms = (text: string | undefined, fallback: number) => parseDurationMs(text) ?? fallback;

export const checkDefaults = { intervalMs: 15_000, timeoutMs: 2_000, gracePeriodMs: 1_000 } as const;

export interface ServerSettings {
  options: string[];
  /** Set when the server is health-checked: checks count once this long after it is added. */
  healthGraceMs?: number;
}

/**
 * HAProxy `server` keywords for a machine behind `endpoint` (the same on `add server` and in the
 * file: dynamic servers ignore `default-server`). `hard_limit` → `maxconn` (more requests wait in
 * the queue); `soft_limit` → `weight`, so `leastconn` compares load relative to it.
 */
export function serverSettings(config: MachineConfig, endpoint: Endpoint): ServerSettings {
  const options: string[] = [];
  const { concurrency } = endpoint.service;
  const hard = concurrency?.hard_limit;
  if (Number.isInteger(hard) && (hard ?? 0) > 0) options.push(`maxconn ${hard}`);
  const soft = concurrency?.soft_limit;
  if (Number.isInteger(soft) && (soft ?? 0) > 0) options.push(`weight ${Math.min(256, soft ?? 1)}`);
  if (endpoint.h2Backend) options.push('proto h2');
  if (endpoint.proxyProto === 'v1') options.push('send-proxy');
  if (endpoint.proxyProto === 'v2') options.push('send-proxy-v2');
  const checks = serviceChecks(config, endpoint.service);
  if (checks.length === 0) return { options };
  const interval = Math.min(...checks.map((check) => ms(check.interval, checkDefaults.intervalMs)));
  const grace = Math.max(...checks.map((check) => ms(check.grace_period, checkDefaults.gracePeriodMs)));
  options.push('check', `inter ${Math.max(100, interval)}ms`, 'fall 2', 'rise 1');
  return { options, healthGraceMs: grace };
}
