/**
 * `nearby server` settings: flags, then `NEARBY_*` environment variables, then defaults. The
 * effective settings are saved in the data dir so `nearby host clean` knows what to remove.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { defaultDataDir } from '../cli/client.ts';
import type { Values } from '../cli/command.ts';
import { parseDurationMs } from '../model/duration.ts';

export interface ServerSettings {
  dataDir: string;
  apiListen: string;
  proxyListen: string;
  /** The edge proxy's TLS port (port 443 of apps). */
  proxyTlsListen: string;
  region: string;
  hostName: string;
  appsDomain: string;
  /** ACME directory URL for `nearby certs add` (default Let's Encrypt). */
  acmeDirectory: string;
  /** How `certs add` host names are validated: HTTP-01 (port 80) or TLS-ALPN-01 (port 443). */
  acmeChallenge: 'http-01' | 'tls-alpn-01';
  /** `host:port` where nearby answers `_acme-challenge.<apps domain>` (DNS-01 wildcard), or '' (local CA). */
  acmeDnsListen: string;
  /** Where `/metrics` (Prometheus) is served; `off` for nowhere. */
  metricsListen: string;
  /** Scale to zero: how often autostop looks, how long a machine idles before it stops, and how
   *  long a request may wait for a machine to wake (milliseconds). */
  autostopIntervalMs: number;
  autostopIdleMs: number;
  wakeTimeoutMs: number;
  /** `microvm`: every machine of this host runs as a QEMU microVM (docs/microvm.md). */
  runtime: 'auto' | 'crun' | 'runc' | 'microvm';
  bridge: string;
  ipv4Cidr: string;
  ipv6Cidr: string;
  insecureRegistries: string[];
  /** Where nearby's own registry (docker-registry child) listens, or `off`. */
  registryListen: string;
  logFormat: 'json' | 'text';
}

export const serverOptions = {
  'data-dir': { type: 'string' },
  'api-listen': { type: 'string' },
  'proxy-listen': { type: 'string' },
  'proxy-tls-listen': { type: 'string' },
  region: { type: 'string' },
  'host-name': { type: 'string' },
  'apps-domain': { type: 'string' },
  'acme-directory': { type: 'string' },
  'acme-challenge': { type: 'string' },
  'acme-dns-listen': { type: 'string' },
  'metrics-listen': { type: 'string' },
  'autostop-interval': { type: 'string' },
  'autostop-idle': { type: 'string' },
  'wake-timeout': { type: 'string' },
  runtime: { type: 'string' },
  bridge: { type: 'string' },
  'machine-cidr': { type: 'string' },
  'machine-cidr6': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'registry-listen': { type: 'string' },
  'log-format': { type: 'string' },
} as const;

export function serverSettings(values: Values, env = process.env): ServerSettings {
  const pick = (flag: string, name: string, fallback: string) =>
    (values[flag] as string | undefined) ?? env[`NEARBY_${name}`] ?? fallback;
  const runtime = pick('runtime', 'RUNTIME', 'auto');
  if (!['auto', 'crun', 'runc', 'microvm'].includes(runtime))
    throw new Error(`--runtime: expected crun, runc, microvm or auto, got '${runtime}'`);
  const insecure =
    (values['insecure-registry'] as string[] | undefined) ?? env.NEARBY_INSECURE_REGISTRIES?.split(',');
  return {
    dataDir: pick('data-dir', 'DATA_DIR', defaultDataDir()),
    apiListen: pick('api-listen', 'API_LISTEN', '127.0.0.1:4280'),
    proxyListen: pick('proxy-listen', 'PROXY_LISTEN', '0.0.0.0:8080'),
    proxyTlsListen: pick('proxy-tls-listen', 'PROXY_TLS_LISTEN', '0.0.0.0:8443'),
    region: pick('region', 'REGION', 'local'),
    hostName: pick('host-name', 'HOST_NAME', hostname()),
    appsDomain: pick('apps-domain', 'APPS_DOMAIN', 'localhost'),
    acmeDirectory: pick('acme-directory', 'ACME_DIRECTORY', 'https://acme-v02.api.letsencrypt.org/directory'),
    acmeChallenge: acmeChallenge(
      pick('acme-challenge', 'ACME_CHALLENGE', ''),
      pick('proxy-listen', 'PROXY_LISTEN', '0.0.0.0:8080'),
      pick('proxy-tls-listen', 'PROXY_TLS_LISTEN', '0.0.0.0:8443'),
    ),
    acmeDnsListen: listenOrOff('acme-dns-listen', pick('acme-dns-listen', 'ACME_DNS_LISTEN', '')),
    metricsListen: pick('metrics-listen', 'METRICS_LISTEN', '127.0.0.1:9480'),
    autostopIntervalMs: duration('autostop-interval', pick('autostop-interval', 'AUTOSTOP_INTERVAL', '10s')),
    autostopIdleMs: duration('autostop-idle', pick('autostop-idle', 'AUTOSTOP_IDLE', '5m')),
    wakeTimeoutMs: duration('wake-timeout', pick('wake-timeout', 'WAKE_TIMEOUT', '10s')),
    runtime: runtime as ServerSettings['runtime'],
    bridge: pick('bridge', 'BRIDGE', 'nearby0'),
    ipv4Cidr: pick('machine-cidr', 'MACHINE_CIDR', '172.19.0.0/16'),
    ipv6Cidr: pick('machine-cidr6', 'MACHINE_CIDR6', 'fdaa:0:1::/64'),
    insecureRegistries: (insecure ?? []).filter(Boolean),
    registryListen: pick('registry-listen', 'REGISTRY_LISTEN', '127.0.0.1:5050'),
    // Text for a person at a terminal; JSON lines wherever stderr is read by a program (a file, journald).
    logFormat: logFormat(pick('log-format', 'LOG_FORMAT', process.stderr.isTTY ? 'text' : 'json')),
  };
}

function logFormat(text: string): ServerSettings['logFormat'] {
  if (text === 'json' || text === 'text') return text;
  throw new Error(`--log-format: expected text or json, got '${text}'`);
}

function duration(flag: string, text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0)
    throw new Error(`--${flag}: expected a duration such as 2s or 5m, got '${text}'`);
  return ms;
}

/**
 * The ACME challenge `certs add` uses. Unset: the one the proxy's listeners can answer where ACME
 * servers look (HTTP-01 needs port 80, TLS-ALPN-01 port 443), HTTP-01 when neither or both.
 */
function acmeChallenge(text: string, httpListen: string, tlsListen: string): ServerSettings['acmeChallenge'] {
  if (text === 'http-01' || text === 'tls-alpn-01') return text;
  if (text !== '') throw new Error(`--acme-challenge: expected http-01 or tls-alpn-01, got '${text}'`);
  const port = (listen: string) => listen.slice(listen.lastIndexOf(':') + 1);
  return port(tlsListen) === '443' && port(httpListen) !== '80' ? 'tls-alpn-01' : 'http-01';
}

function listenOrOff(flag: string, text: string): string {
  if (text === '' || text === 'off') return '';
  const port = Number(/^(?:\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(text)?.[1]);
  if (!(port >= 1 && port <= 65535))
    throw new Error(`--${flag}: expected HOST:PORT such as 0.0.0.0:53, got '${text}'`);
  return text;
}

export const settingsFile = (dataDir: string) => join(dataDir, 'server.json');
