/**
 * Renders HAProxy's configuration and host map from the wanted routes. Pure: the same routes
 * give the same text, so a reload is only needed when the structure (the backends) changes.
 */
import { join } from 'node:path';
import type { RouteTable } from './routes.ts';

export interface ProxyPaths {
  dir: string;
  config: string;
  hostsMap: string;
  adminSocket: string;
  masterSocket: string;
  /** The master's pid, so a HAProxy left behind by a killed nearby can be found and stopped. */
  pidFile: string;
  pagesDir: string;
  requestIdLua: string;
}

export function proxyPaths(dataDir: string): ProxyPaths {
  const dir = join(dataDir, 'proxy');
  return {
    dir,
    config: join(dir, 'haproxy.cfg'),
    hostsMap: join(dir, 'hosts.map'),
    adminSocket: join(dir, 'admin.sock'),
    masterSocket: join(dir, 'master.sock'),
    pidFile: join(dir, 'haproxy.pid'),
    pagesDir: join(dir, 'pages'),
    requestIdLua: join(dir, 'request-id.lua'),
  };
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ConfigInput {
  paths: ProxyPaths;
  region: string;
  appsDomain: string;
  httpListen: ListenAddress;
  routes: RouteTable;
  /** Connections HAProxy accepts at once, all frontends together. */
  maxconn: number;
}

export const defaultLimits = {
  maxconn: 4096,
  connect: '5s',
  client: '60s',
  server: '60s',
  httpRequest: '10s',
  httpKeepAlive: '60s',
  queue: '10s',
  tunnel: '1h',
  /** How long an old worker may finish its requests after a reload. */
  hardStopAfter: '5m',
} as const;

const quote = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** `[::]:8080` for IPv6 hosts, `0.0.0.0:8080` otherwise. */
export function formatListen(listen: ListenAddress): string {
  return listen.host.includes(':') ? `[${listen.host}]:${listen.port}` : `${listen.host}:${listen.port}`;
}

/** Parses `host:port`, `[v6]:port` or `:port` (all addresses). */
export function parseListen(text: string): ListenAddress | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export function renderHostsMap(routes: RouteTable): string {
  return [...routes.hosts].map(([host, backend]) => `${host} ${backend}\n`).join('');
}

export function renderConfig(input: ConfigInput): string {
  const { paths, region, appsDomain, httpListen, routes } = input;
  const limits = defaultLimits;
  const page = (name: string) => quote(join(paths.pagesDir, name));
  const suffix = `.${appsDomain}`;
  const suffixRegex = suffix.replace(/\./g, '[.]');
  const html = 'content-type "text/html; charset=utf-8"';
  const text = 'content-type "text/plain; charset=utf-8"';
  const lines = [
    '# Rendered by nearby (src/proxy/haproxy-config.ts): edits are overwritten.',
    'global',
    `  stats socket ${quote(paths.adminSocket)} mode 600 level admin expose-fd listeners`,
    '  stats timeout 30s',
    '  log stdout format raw local0 info',
    `  maxconn ${input.maxconn}`,
    `  hard-stop-after ${limits.hardStopAfter}`,
    `  lua-load-per-thread ${quote(paths.requestIdLua)}`,
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  option dontlognull',
    '  option redispatch 1',
    '  retries 2',
    `  timeout connect ${limits.connect}`,
    `  timeout client ${limits.client}`,
    `  timeout server ${limits.server}`,
    `  timeout http-request ${limits.httpRequest}`,
    `  timeout http-keep-alive ${limits.httpKeepAlive}`,
    `  timeout queue ${limits.queue}`,
    `  timeout tunnel ${limits.tunnel}`,
    // The app is known once a backend is chosen (txn.app); these pages name it.
    `  http-error status 502 ${html} lf-file ${page('bad-gateway.html')}`,
    `  http-error status 503 ${html} lf-file ${page('unavailable.html')}`,
    `  http-error status 504 ${html} lf-file ${page('gateway-timeout.html')}`,
    '',
    'frontend nearby_http',
    `  bind ${formatListen(httpListen)}`,
    `  maxconn ${input.maxconn}`,
    `  unique-id-format %[lua.nearby_request_id]-${region}`,
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    `  http-request set-var(txn.app) var(txn.host),regsub('${suffixRegex}$','') if { var(txn.host) -m end ${suffix} }`,
    // Set (not add) so that a client cannot forge what the app trusts.
    '  http-request set-header Fly-Client-IP %[src]',
    '  option forwardfor',
    '  http-request set-header X-Forwarded-Proto http',
    '  http-request set-header X-Forwarded-Port %[dst_port]',
    '  http-request set-header Fly-Forwarded-Port %[dst_port]',
    `  http-request set-header Fly-Region ${region}`,
    '  http-request set-header Fly-Request-Id %[unique-id]',
    '  http-request add-header Via "1.1 nearby"',
    `  use_backend %[var(txn.host),map(${quote(paths.hostsMap)},nearby_no_app)]`,
    '  default_backend nearby_no_app',
    '',
    'backend nearby_no_app',
    '  acl wants_html req.hdr(accept) -m sub text/html',
    '  acl known_shape var(txn.app) -m reg ^[a-z0-9][a-z0-9-]*$',
    `  http-request return status 404 ${html} lf-file ${page('no-app.html')} if known_shape wants_html`,
    `  http-request return status 404 ${text} lf-file ${page('no-app.txt')} if known_shape`,
    `  http-request return status 404 ${html} file ${page('no-host.html')} if wants_html`,
    `  http-request return status 404 ${text} file ${page('no-host.txt')}`,
  ];
  for (const backend of routes.backends) {
    lines.push(
      '',
      `backend ${backend.name}`,
      '  balance leastconn',
      '  http-reuse safe',
      `  http-request set-var(txn.app) str(${backend.app})`,
      '  acl wants_html req.hdr(accept) -m sub text/html',
      `  http-request return status 503 ${html} lf-file ${page('no-machine.html')} if { nbsrv eq 0 } wants_html`,
      `  http-request return status 503 ${text} lf-file ${page('no-machine.txt')} if { nbsrv eq 0 }`,
      ...backend.servers.map((server) => `  server ${server.name} ${server.address}:${server.port}`),
    );
  }
  return `${lines.join('\n')}\n`;
}
