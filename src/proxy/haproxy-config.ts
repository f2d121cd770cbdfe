/**
 * Renders HAProxy's configuration and host map from the wanted routes. Pure: the same routes
 * give the same text. Servers are left out of `structureKey`: they change through the Runtime
 * API, while anything else (backends, frontends, check rules) needs a reload.
 */
import { join } from 'node:path';
import { nearbyVersion } from '../version.ts';
import { accessLogLines, type LogTarget } from './access-log-config.ts';
import { ACTIVATOR_SERVER } from './activator.ts';
import {
  type BackhaulTarget,
  backhaulFrontendLines,
  backhaulTcpFrontendLines,
  farBackendLines,
} from './backhaul-config.ts';
import { egressLine, egressTableLines } from './egress-meter.ts';
import { latencyLines, latencyTableLines } from './http-stats.ts';
import { metricsExporterLines } from './metrics-config.ts';
import {
  dedicatedReplayLines,
  type ReplayerTarget,
  replayFrontendLines,
  replayGlobalLines,
  replayRoutingLines,
  replaySections,
} from './replay-config.ts';
import { routeLatencyLines, routeLatencyTableLines } from './route-latency.ts';
import type { RouteTable, WantedBackend, WantedFrontend } from './routes.ts';
import { poolSize, slotName } from './slots.ts';
import { innerTlsBind, tlsAlpnSections } from './tls-alpn-config.ts';

export interface ProxyPaths {
  dir: string;
  config: string;
  hostsMap: string;
  /** Server slot → machine id, for the access log (slots.ts). */
  slotsMap: string;
  /** Response time (ms) → latency bucket, for the metrics (http-stats.ts). */
  latencyMap: string;
  /** Response time (ms) → finer latency bucket, for the demand records (route-latency.ts). */
  routeLatencyMap: string;
  /** App → `<org>:<cap>` of the apps suspended at their org's spending cap (budget-levels.ts). */
  suspendedMap: string;
  adminSocket: string;
  masterSocket: string;
  /** The master's pid, so a HAProxy left running by an earlier nearby can be found and adopted. */
  pidFile: string;
  /** HAProxy's own messages (stdout and stderr), followed into nearby's log while it runs. */
  outputLog: string;
  /** A FIFO: HAProxy's access log, copied to nearby's output while it runs (haproxy-output.ts). */
  accessLogFifo: string;
  /** The pid of the `cat` that copies the FIFO while nearby runs (haproxy-output.ts). */
  accessLogRelayPid: string;
  /** A hash of the structure (`structureKey`) of the configuration HAProxy last loaded. */
  structureFile: string;
  pagesDir: string;
  /** `<hostname>.pem` per certificate record. */
  certsDir: string;
  /** The crt-list naming them, with SNI filters. */
  crtList: string;
  /** Self-signed, served when no certificate matches the SNI. */
  defaultCert: string;
}

export function proxyPaths(dataDir: string): ProxyPaths {
  const dir = join(dataDir, 'proxy');
  return {
    dir,
    config: join(dir, 'haproxy.cfg'),
    hostsMap: join(dir, 'hosts.map'),
    slotsMap: join(dir, 'slots.map'),
    latencyMap: join(dir, 'latency.map'),
    routeLatencyMap: join(dir, 'route-latency.map'),
    suspendedMap: join(dir, 'suspended.map'),
    adminSocket: join(dir, 'admin.sock'),
    masterSocket: join(dir, 'master.sock'),
    pidFile: join(dir, 'haproxy.pid'),
    outputLog: join(dir, 'haproxy.log'),
    accessLogFifo: join(dir, 'access-log.fifo'),
    accessLogRelayPid: join(dir, 'access-log-relay.pid'),
    structureFile: join(dir, 'haproxy.structure'),
    pagesDir: join(dir, 'pages'),
    certsDir: join(dir, 'certs'),
    crtList: join(dir, 'certs.list'),
    defaultCert: join(dir, 'default-cert.pem'),
  };
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ProxyLimits {
  /** Connections HAProxy accepts at once, all frontends together. */
  maxconn: number;
  connect: string;
  client: string;
  server: string;
  /** Whole request head (slow headers are cut here: 408). */
  httpRequest: string;
  httpKeepAlive: string;
  /** How long a request waits for a machine under its hard_limit before a 503. */
  queue: string;
  tunnel: string;
  /** How long an old worker may finish its requests after a reload. */
  hardStopAfter: string;
  /** Request headers, at most (HAProxy answers 400 above). */
  maxHeaders: number;
  /** Request target (URI) length, at most (414 above). */
  maxUriBytes: number;
  /** Declared request body (Content-Length), at most (413 above); 0 = no limit. */
  maxBodyBytes: number;
}

export const defaultLimits: ProxyLimits = {
  maxconn: 4096,
  connect: '5s',
  client: '60s',
  server: '60s',
  httpRequest: '10s',
  httpKeepAlive: '60s',
  queue: '10s',
  tunnel: '1h',
  hardStopAfter: '5m',
  maxHeaders: 100,
  maxUriBytes: 8192,
  maxBodyBytes: 0,
};

export interface ConfigInput {
  paths: ProxyPaths;
  region: string;
  appsDomain: string;
  httpListen: ListenAddress;
  tlsListen: ListenAddress;
  routes: RouteTable;
  limits: ProxyLimits;
  /** nearby's listeners in Node (access log, ACME HTTP-01, metrics), when running. */
  acmeResponder?: ListenAddress;
  accessLog?: LogTarget;
  metricsSocket?: string;
  /** The Node replayer for Fly-Replay and fly-*-instance-id / fly-force-region (replay-config.ts). */
  replayer?: ReplayerTarget;
  /** nearby's ACME TLS-ALPN-01 responder: set, a TCP front reads ClientHellos first (tls-alpn-config.ts). */
  acmeTlsAlpn?: ListenAddress;
  /** This proxy's name in `Via` (its host name); default `nearby`. */
  via?: string;
  /** In a cluster: the listener other proxies send requests to, and the TLS its slots use to reach them. */
  backhaul?: BackhaulTarget;
  /** `suspended.map`'s entries when HAProxy (re)loads: app → `<org>:<cap>` (budget-levels.ts). */
  suspended?: Map<string, string>;
}

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

/** Each machine's slot and its id; the activator stands for itself. */
export function renderSlotsMap(routes: RouteTable): string {
  const lines = [`${ACTIVATOR_SERVER} ${ACTIVATOR_SERVER}\n`];
  for (const backend of routes.backends) {
    for (const server of backend.servers) if (server.slot) lines.push(`${server.slot} ${server.name}\n`);
  }
  return lines.join('');
}

const html = 'content-type "text/html; charset=utf-8"';
const text = 'content-type "text/plain; charset=utf-8"';
const page = (input: ConfigInput, name: string) => quote(join(input.paths.pagesDir, name));

/** `https://<host>[:port]<path?query>`, 301 for GET/HEAD and 308 otherwise (the method is kept). */
function httpsRedirect(tlsPort: number, condition: string): string[] {
  const location = `https://%[var(txn.host)]${tlsPort === 443 ? '' : `:${tlsPort}`}%[pathq]`;
  const skip = '!{ path_beg /.well-known/acme-challenge/ }';
  return [
    `  http-request redirect location ${location} code 301 if ${condition} ${skip} METH_GET`,
    `  http-request redirect location ${location} code 301 if ${condition} ${skip} METH_HEAD`,
    `  http-request redirect location ${location} code 308 if ${condition} ${skip}`,
  ];
}

/** Request rules every HTTP frontend shares: limits, the app's name, the headers apps rely on. */
function httpRequestRules(input: ConfigInput, tls: boolean): string[] {
  const { region, appsDomain, limits } = input;
  const suffix = `.${appsDomain}`;
  const suffixRegex = suffix.replace(/\./g, '[.]');
  const lines = [
    // Native, not Lua: a Lua fetch per request cost HAProxy two thirds of its throughput here.
    `  unique-id-format %[uuid()]-${region}`,
    `  http-request return status 414 ${text} string "414 URI too long: at most ${limits.maxUriBytes} bytes\\n" if { url,length gt ${limits.maxUriBytes} }`,
  ];
  if (limits.maxBodyBytes > 0) {
    lines.push(
      `  http-request return status 413 ${text} string "413 request body too large: at most ${limits.maxBodyBytes} bytes\\n" if { req.hdr_val(content-length) gt ${limits.maxBodyBytes} }`,
    );
  }
  lines.push(
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    `  http-request set-var(txn.app) var(txn.host),regsub('${suffixRegex}$','') if { var(txn.host) -m end ${suffix} }`,
    // Set (not add) so that a client cannot forge what the app trusts.
    '  http-request set-header Fly-Client-IP %[src]',
    '  option forwardfor',
    `  http-request set-header X-Forwarded-Proto ${tls ? 'https' : 'http'}`,
    `  http-request set-header X-Forwarded-SSL ${tls ? 'on' : 'off'}`,
    '  http-request set-header X-Forwarded-Port %[dst_port]',
    '  http-request set-header Fly-Forwarded-Port %[dst_port]',
    `  http-request set-header Fly-Region ${region}`,
    '  http-request set-header Fly-Request-Id %[unique-id]',
    `  http-request add-header Via "1.1 ${input.via ?? 'nearby'}"`,
  );
  return lines;
}

/**
 * What a client may never send: nearby's own headers between its proxies and its replayer
 * (`x-nearby-hops`, `x-nearby-route`, `x-nearby-replay`, `x-nearby-backend`…), deleted in one
 * rule by their prefix before anything reads or keeps the request (the replay capture). One
 * rule instead of four: HAProxy 2.6 pays for every rule it evaluates (docs/perf.md).
 */
export const NEARBY_HEADER_PREFIX = 'x-nearby-';
export const CLIENT_HEADERS_RULE = `  http-request del-header ${NEARBY_HEADER_PREFIX} -m beg`;

/**
 * Hooks for the Node listeners: one access-log line per request, ACME challenges to nearby.
 * `publicFront`: a frontend clients reach (nearby's own headers are deleted first); the backhaul
 * frontend keeps the hop count and route other proxies send.
 */
function nearbyFrontendLines(input: ConfigInput, publicFront = true): string[] {
  const lines: string[] = [];
  if (input.accessLog) lines.push(...accessLogLines(input.accessLog));
  if (publicFront) lines.push(CLIENT_HEADERS_RULE);
  if (input.replayer) lines.push(...replayFrontendLines(!publicFront));
  return lines;
}

/** `use_backend` hooks, placed after every `http-request` rule and before app routing. */
function nearbyRoutingLines(input: ConfigInput): string[] {
  const lines: string[] = [];
  // The ACME server asks over plain HTTP (https redirects skip this path too).
  if (input.acmeResponder)
    lines.push('  use_backend nearby_acme if { path_beg /.well-known/acme-challenge/ }');
  if (input.replayer) lines.push(...replayRoutingLines(input.region, input.paths.hostsMap));
  return lines;
}

function nearbySections(input: ConfigInput): string[] {
  const lines: string[] = [];
  if (input.acmeResponder) {
    lines.push('', 'backend nearby_acme', `  server acme ${formatListen(input.acmeResponder)}`);
  }
  if (input.metricsSocket) lines.push(...metricsExporterLines(input.metricsSocket));
  if (input.replayer) {
    lines.push(...replaySections(input.replayer, input.accessLog ? accessLogLines(input.accessLog) : []));
  }
  if (input.acmeTlsAlpn) {
    const { paths, tlsListen, acmeTlsAlpn: responder } = input;
    lines.push(...tlsAlpnSections({ paths, tlsListen, responder, maxconn: input.limits.maxconn }));
  }
  return lines;
}

/** TLS on a bind line: the default certificate first (served when no SNI matches), then the crt-list. */
function sslBind(input: ConfigInput, alpn: string[] | undefined, versions?: string[]): string {
  const { paths } = input;
  let bind = ` ssl crt ${quote(paths.defaultCert)} crt-list ${quote(paths.crtList)}`;
  if (alpn !== undefined && alpn.length > 0) bind += ` alpn ${alpn.join(',')}`;
  const offered = (versions ?? []).filter((version) => version === 'TLSv1.2' || version === 'TLSv1.3');
  if (offered.length > 0) bind += ` ssl-min-ver ${offered.sort()[0]} ssl-max-ver ${offered.sort().at(-1)}`;
  return bind;
}

/** The shared ports: every app by Host (and SNI for the certificate). */
function sharedFrontend(input: ConfigInput, tls: boolean): string[] {
  const listen = tls ? input.tlsListen : input.httpListen;
  const lines = [
    '',
    `frontend ${tls ? 'nearby_https' : 'nearby_http'}`,
    `  bind ${tls && input.acmeTlsAlpn ? innerTlsBind(input.paths) : formatListen(listen)}${tls ? sslBind(input, ['h2', 'http/1.1']) : ''}`,
    `  maxconn ${input.limits.maxconn}`,
    ...nearbyFrontendLines(input),
    ...httpRequestRules(input, tls),
  ];
  if (tls) {
    // A connection opened for one host name (SNI) is not reused for another app: 421 tells the
    // client to open a new one (what browsers do when certificates cover several hosts).
    lines.push(
      `  http-request return status 421 ${text} string "421 misdirected request: the TLS server name is not this host\\n" if { ssl_fc_sni -m found } !{ ssl_fc_sni,lower,strcmp(txn.host) eq 0 }`,
    );
  }
  lines.push(
    ...nearbyRoutingLines(input),
    `  use_backend %[var(txn.host),map(${quote(input.paths.hostsMap)},nearby_no_app)]`,
    '  default_backend nearby_no_app',
  );
  return lines;
}

/** A dedicated port: one app's service, whatever the Host. */
function dedicatedFrontend(input: ConfigInput, frontend: WantedFrontend): string[] {
  const ports = frontend.endPort === undefined ? `${frontend.port}` : `${frontend.port}-${frontend.endPort}`;
  const host = input.httpListen.host.includes(':') ? `[${input.httpListen.host}]` : input.httpListen.host;
  const alpn = frontend.alpn ?? (frontend.mode === 'http' ? ['h2', 'http/1.1'] : undefined);
  const lines = [
    '',
    `frontend ${frontend.name}`,
    `  mode ${frontend.mode}`,
    `  bind ${host}:${ports}${frontend.tls ? sslBind(input, alpn, frontend.tlsVersions) : ''}`,
    `  maxconn ${input.limits.maxconn}`,
  ];
  if (frontend.mode === 'tcp') {
    lines.push('  option tcplog');
    // The far twin's PROXY header names the backend the far side must use, as the unique id.
    if (frontend.far !== undefined) lines.push(`  unique-id-format ${frontend.backend}`);
  } else {
    lines.push(...nearbyFrontendLines(input), ...httpRequestRules(input, frontend.tls));
    if (frontend.forceHttps) lines.push(...httpsRedirect(input.tlsListen.port, 'TRUE'));
    if (input.replayer) lines.push(...dedicatedReplayLines(frontend.backend));
  }
  if (frontend.far !== undefined && input.backhaul !== undefined) {
    // This host's machines first; while none is up, other hosts' through their backhaul.
    lines.push(
      `  use_backend ${frontend.backend} if { nbsrv(${frontend.backend}) gt 0 }`,
      `  default_backend ${frontend.far}`,
    );
    return lines;
  }
  lines.push(`  default_backend ${frontend.backend}`);
  return lines;
}

/**
 * The backend's server slots (slots.ts): each machine's slot pointed at it, the others disabled
 * until the Runtime API points them at a machine. The same options on every slot; a machine's
 * own limits (maxconn, weight) are set on its slot.
 */
function slotLines(backend: WantedBackend): string[] {
  const bySlot = new Map<string, WantedBackend['servers'][number]>();
  const unplaced: WantedBackend['servers'] = [];
  for (const server of backend.servers) {
    if (server.slot === undefined || bySlot.has(server.slot)) unplaced.push(server);
    else bySlot.set(server.slot, server);
  }
  const count = backend.slots ?? poolSize(0, backend.servers.length);
  const lines: string[] = [];
  for (let index = 1; index <= count; index++) {
    const name = slotName(backend.name, index);
    const server = bySlot.get(name) ?? (bySlot.size < count ? unplaced.shift() : undefined);
    if (server === undefined) {
      lines.push([`  server ${name} 0.0.0.0:80 disabled`, ...backend.slotOptions].join(' '));
      continue;
    }
    bySlot.set(name, server);
    const limits = server.options.filter(
      (option) => !backend.slotOptions.includes(option) && /^(maxconn|weight) /.test(option),
    );
    lines.push(
      [`  server ${name} ${server.address}:${server.port}`, ...limits, ...backend.slotOptions].join(' '),
    );
  }
  if (backend.backup !== undefined) {
    const disabled = backend.backup.enabled ? '' : ' disabled';
    lines.push(`  server ${ACTIVATOR_SERVER} ${formatListen(backend.backup)} backup${disabled}`);
  }
  return lines;
}

/**
 * An app suspended at its org's spending cap (its entry in `suspended.map`, `<org>:<cap>`): a `402`
 * page naming the reason, or for gRPC a status the client library reports
 * (RESOURCE_EXHAUSTED, the code for a spent quota) with the reason as its message.
 */
function suspendedHttpLines(input: ConfigInput, app: string): string[] {
  const found = '{ var(txn.nb_suspended) -m found }';
  const grpc = '{ req.hdr(content-type) -m beg application/grpc }';
  return [
    `  http-request set-var(txn.nb_suspended) str(${app}),map(${quote(input.paths.suspendedMap)})`,
    `  http-request set-var(txn.nb_org) var(txn.nb_suspended),field(1,:) if ${found}`,
    `  http-request set-var(txn.nb_cap) var(txn.nb_suspended),field(2,:) if ${found}`,
    // No `$` here: HAProxy expands environment variables in double-quoted strings.
    `  http-request return status 200 content-type application/grpc hdr grpc-status 8 hdr grpc-message "app ${app} is suspended: org %[var(txn.nb_org)] reached its monthly spending cap of USD %[var(txn.nb_cap)]" if ${found} ${grpc}`,
    `  http-request return status 402 ${html} lf-file ${page(input, 'suspended.html')} hdr Retry-After 60 if ${found} wants_html`,
    `  http-request return status 402 ${text} lf-file ${page(input, 'suspended.txt')} hdr Retry-After 60 if ${found}`,
  ];
}

/** Backend lines without its servers: what a change of needs a reload. */
function backendHead(input: ConfigInput, backend: WantedBackend): string[] {
  const lines = ['', `backend ${backend.name}`, `  mode ${backend.mode}`, '  balance leastconn'];
  if (backend.mode === 'http') {
    lines.push(
      // A far twin's servers are other hosts' proxies, whose keep-alive outlasts this side's idle
      // connections (backhaul-config.ts): any request may take a warm one, one round trip instead
      // of three (TCP, TLS, request). A machine may close an idle connection as a request is sent
      // on it, so there only a client's later requests share connections.
      `  http-reuse ${backend.far === undefined ? 'safe' : 'always'}`,
      // Connection failures are retried on another machine for any request; a request the
      // machine may have started on only when it is idempotent.
      '  retry-on conn-failure empty-response 0rtt-rejected',
      '  http-request disable-l7-retry if !METH_GET !METH_HEAD !METH_OPTIONS !{ method PUT DELETE TRACE }',
      // With one machine up there is no other to retry on, and HAProxy would copy every request
      // (its whole 16 KiB buffer) in case: 6 % of the proxy's CPU. A keep-alive race with the
      // machine needs no retry here: `http-reuse safe` sends a client's first request on a
      // connection of its own, and closes the client's connection on the others so it retries.
      // A far twin keeps them: a warm backhaul connection closed by the far side's reload as a
      // request leaves is retried on a new one (a round trip is worth more than the copy).
      ...(backend.far === undefined ? ['  http-request disable-l7-retry if { nbsrv lt 2 }'] : []),
      `  http-request set-var(txn.app) str(${backend.app})`,
      ...latencyLines(backend.app, input.paths.latencyMap),
      ...routeLatencyLines(input.paths.routeLatencyMap),
    );
    // X-Forwarded-SSL, set by every HTTP frontend, still says it when a request comes back
    // through nearby_buffered (replay-config.ts).
    if (backend.forceHttps) {
      lines.push(...httpsRedirect(input.tlsListen.port, '!{ req.hdr(x-forwarded-ssl) -m str on }'));
    }
    // A worker that is stopping (the old one, during a reload) counts no usable server in any
    // backend: a request still arriving on one of its keep-alive connections goes to the machines.
    lines.push(
      '  acl wants_html req.hdr(accept) -m sub text/html',
      '  acl no_machine nbsrv eq 0',
      ...suspendedHttpLines(input, backend.app),
      `  http-request return status 503 ${html} lf-file ${page(input, 'no-machine.html')} hdr Retry-After 1 if no_machine !{ stopping } wants_html`,
      `  http-request return status 503 ${text} lf-file ${page(input, 'no-machine.txt')} hdr Retry-After 1 if no_machine !{ stopping }`,
    );
  }
  // Egress for billing, counted at the edge the user entered (egress-meter.ts).
  lines.push(egressLine(backend.app, backend.mode));
  // A raw TCP service has no way to say why: the connection of a suspended app is closed at once.
  if (backend.mode === 'tcp')
    lines.push(
      `  tcp-request content reject if { str(${backend.app}),map(${quote(input.paths.suspendedMap)}) -m found }`,
    );
  lines.push(...backend.checks);
  if (backend.far && input.backhaul)
    lines.push(...farBackendLines(input.backhaul, backend.mode, backend.far));
  return lines;
}

/**
 * What decides whether a change needs a reload: everything but the servers (which the Runtime
 * API adds and removes) and the host map and certificates (also changed at runtime).
 */
export function structureKey(input: ConfigInput): string {
  const { routes } = input;
  return renderConfig({
    ...input,
    routes: {
      ...routes,
      backends: routes.backends.map((b) => ({
        ...b,
        servers: [],
        ...(b.backup ? { backup: { ...b.backup, enabled: false } } : {}),
      })),
    },
  });
}

export function renderConfig(input: ConfigInput): string {
  const { paths, limits, routes } = input;
  const lines = [
    // The version is part of the structure: a new nearby adopting a running HAProxy reloads it
    // with its own configuration (hitless), whatever changed in how it renders.
    `# Rendered by nearby ${nearbyVersion} (src/proxy/haproxy-config.ts): edits are overwritten.`,
    'global',
    `  stats socket ${quote(paths.adminSocket)} mode 600 level admin expose-fd listeners`,
    '  stats timeout 30s',
    '  log stdout format raw local0 info',
    `  maxconn ${limits.maxconn}`,
    `  hard-stop-after ${limits.hardStopAfter}`,
    ...(input.replayer ? replayGlobalLines(input.replayer) : []),
    `  tune.http.maxhdr ${limits.maxHeaders}`,
    // TLS 1.2 and 1.3 only, on every TLS listener.
    '  ssl-default-bind-options ssl-min-ver TLSv1.2',
    // TLS 1.3 suites in the order browsers and nginx end up with (AES-128-GCM first; HAProxy
    // picks by its own order, OpenSSL's default puts AES-256-GCM-SHA384 first): the handshake's
    // key schedule in SHA-256, the same as nginx's on the same client (docs/perf.md, issue 21).
    '  ssl-default-bind-ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  option dontlognull',
    '  option redispatch 1',
    // At a reload the old worker answers the next request of each idle kept-alive connection
    // (with `Connection: close`) instead of closing it under a client that may be sending one:
    // clients that do not retry (most HTTP libraries) saw "socket hang up" at each reload.
    '  option idle-close-on-response',
    '  retries 2',
    `  timeout connect ${limits.connect}`,
    `  timeout client ${limits.client}`,
    `  timeout server ${limits.server}`,
    `  timeout http-request ${limits.httpRequest}`,
    `  timeout http-keep-alive ${limits.httpKeepAlive}`,
    `  timeout queue ${limits.queue}`,
    `  timeout tunnel ${limits.tunnel}`,
    // The app is known once a backend is chosen (txn.app); these pages name it.
    `  http-error status 502 ${html} lf-file ${page(input, 'bad-gateway.html')}`,
    `  http-error status 503 ${html} lf-file ${page(input, 'unavailable.html')} hdr Retry-After 1`,
    `  http-error status 504 ${html} lf-file ${page(input, 'gateway-timeout.html')}`,
    ...sharedFrontend(input, false),
    ...sharedFrontend(input, true),
    ...routes.frontends.flatMap((frontend) => dedicatedFrontend(input, frontend)),
    ...(input.backhaul
      ? backhaulFrontendLines({
          target: input.backhaul,
          region: input.region,
          via: input.via ?? 'nearby',
          appsDomain: input.appsDomain,
          maxconn: limits.maxconn,
          hooks: nearbyFrontendLines(input, false),
          routing: [
            ...nearbyRoutingLines(input),
            `  use_backend %[var(txn.host),map(${quote(paths.hostsMap)},nearby_no_app)]`,
            '  default_backend nearby_no_app',
          ],
        })
      : []),
    ...(input.backhaul ? backhaulTcpFrontendLines({ target: input.backhaul, maxconn: limits.maxconn }) : []),
    '',
    'backend nearby_no_app',
    // HAProxy loads a map only when a rule uses it: the suspended apps' map is always there to change.
    `  http-request set-var(txn.nb_suspended) var(txn.app),map(${quote(paths.suspendedMap)})`,
    '  acl wants_html req.hdr(accept) -m sub text/html',
    '  acl known_shape var(txn.app) -m reg ^[a-z0-9][a-z0-9-]*$',
    `  http-request return status 404 ${html} lf-file ${page(input, 'no-app.html')} if known_shape wants_html`,
    `  http-request return status 404 ${text} lf-file ${page(input, 'no-app.txt')} if known_shape`,
    `  http-request return status 404 ${html} file ${page(input, 'no-host.html')} if wants_html`,
    `  http-request return status 404 ${text} file ${page(input, 'no-host.txt')}`,
  ];
  if (!input.accessLog) {
    // HAProxy loads a map only when a rule uses it, and the slots map is also what an adopting
    // nearby and the sync write (slot → machine): without an access log, this rule uses it.
    lines.push(`  http-after-response set-var(txn.nb_machine) srv_name,map(${quote(paths.slotsMap)},-)`);
  }
  for (const backend of routes.backends) {
    lines.push(...backendHead(input, backend), ...slotLines(backend));
  }
  lines.push(
    ...latencyTableLines(),
    ...routeLatencyTableLines(),
    ...egressTableLines(),
    ...nearbySections(input),
  );
  return `${lines.join('\n')}\n`;
}
