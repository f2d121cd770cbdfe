/**
 * The HAProxy lines of the backhaul (docs/proxy.md, "Routing across hosts"): TLS listeners that
 * only nearby's proxies may use — HAProxy refuses, during the handshake, any client without a
 * certificate of the cluster's CA — and the TLS settings the app backends' slots use when they
 * point at another host's backhaul. HTTP arrives on the backhaul port and keeps what the first
 * proxy set (client address, request id, protocol); it is routed like any request, by `Host`, to
 * this host's machines (a proxy with a machine of the app always routes to its own host first,
 * placement.ts), or for a dedicated port to the backend its far twin names. Raw TCP arrives on
 * the next port, opened by a PROXY v2 header that carries the client's address and, as its
 * unique id, the backend: only this host's machines are behind it, so nothing crosses twice.
 */
import { formatListen, type ListenAddress } from './haproxy-config.ts';

export interface BackhaulTarget {
  /** Where other proxies reach this one. */
  listen: ListenAddress;
  /** PEM: this proxy's certificate and key, issued by the cluster's CA (or the cluster's own, self-signed). */
  certFile: string;
  /** PEM: the CA a peer's certificate must chain to. */
  caFile: string;
}

/** A request answered by the backhaul itself: the RTT probe of other proxies (peers.ts). */
export const PING_PATH = '/.nearby/ping';
/**
 * Backhauls a request crossed, counted in a header the public frontends remove (a client cannot
 * set it). Past MAX_HOPS it is looping: two proxies' views of the store disagreeing for a moment.
 * Not `Via`: a client may send its own.
 */
export const HOPS_HEADER = 'x-nearby-hops';
export const MAX_HOPS = 3;

/** How long the backhaul keeps a peer's idle connection: well past the peer's idle pool purge. */
export const BACKHAUL_KEEP_ALIVE = '120s';

/** Raw TCP of dedicated ports arrives on the backhaul port + 1. */
export const BACKHAUL_TCP_OFFSET = 1;
/** Names, for the far side, the dedicated port's backend an HTTP request is for (far twins set it). */
export const BACKEND_HEADER = 'x-nearby-route';
const DEDICATED_BACKEND = '^app_[a-z0-9][a-z0-9-]*_[0-9]+_(http|h2|tcp|pp1|pp2)$';

const quote = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * The backhaul frontend. `routing`: the frontend's usual request hooks and `use_backend` lines
 * (replays, routing controls, the host map), shared with the public frontends.
 */
export function backhaulFrontendLines(options: {
  target: BackhaulTarget;
  region: string;
  via: string;
  appsDomain: string;
  maxconn: number;
  hooks: string[];
  routing: string[];
}): string[] {
  const { target, region, appsDomain } = options;
  const suffix = `.${appsDomain}`;
  return [
    '',
    'frontend nearby_backhaul',
    `  bind ${formatListen(target.listen)} ssl crt ${quote(target.certFile)} ca-file ${quote(target.caFile)} verify required alpn h2,http/1.1`,
    `  maxconn ${options.maxconn}`,
    // Other proxies' far twins send any request on a connection they keep idle (`http-reuse
    // always`), and close it unused within ~15 s (HAProxy's pool purge): this side keeps it open
    // longer, whatever the public keep-alive, so it is never closed under a request on its way.
    `  timeout http-keep-alive ${BACKHAUL_KEEP_ALIVE}`,
    ...options.hooks,
    // Belt and braces: the handshake already refused clients without a cluster certificate.
    '  http-request deny deny_status 403 unless { ssl_c_used } { ssl_c_verify 0 }',
    `  http-request return status 200 content-type text/plain string pong if { path ${PING_PATH} }`,
    `  http-request return status 508 content-type "text/plain; charset=utf-8" string "508 loop detected: this request crossed ${MAX_HOPS} backhauls\\n" if { req.hdr_val(${HOPS_HEADER}) ge ${MAX_HOPS} }`,
    `  http-request set-header ${HOPS_HEADER} %[req.hdr_val(${HOPS_HEADER}),add(1)] if { req.hdr(${HOPS_HEADER}) -m found }`,
    `  http-request set-header ${HOPS_HEADER} 1 if !{ req.hdr(${HOPS_HEADER}) -m found }`,
    // The first proxy's request id, client address and protocol stay: the app sees the client.
    '  unique-id-format %[req.hdr(fly-request-id)]',
    '  http-request set-var(txn.host) req.hdr(host),field(1,:),lower',
    `  http-request set-var(txn.app) var(txn.host),regsub('${suffix.replace(/\./g, '[.]')}$','') if { var(txn.host) -m end ${suffix} }`,
    // The region of the machine that answers: only this host's machines are reached from here.
    `  http-request set-header Fly-Region ${region}`,
    `  http-request add-header Via "1.1 ${options.via}"`,
    // A dedicated port's request names its backend (the far twin set it); the app never sees it.
    `  http-request set-var(txn.nb_backend) req.hdr(${BACKEND_HEADER})`,
    `  http-request del-header ${BACKEND_HEADER}`,
    `  use_backend %[var(txn.nb_backend)] if { var(txn.nb_backend) -m reg ${DEDICATED_BACKEND} }`,
    ...options.routing,
  ];
}

/**
 * The TCP side of the backhaul (port + 1): every connection opens with a PROXY v2 header whose
 * unique id names the backend (a far twin's defaults send it); the header's client address
 * becomes the connection's, so a PROXY-protocol machine behind still learns the client's.
 */
export function backhaulTcpFrontendLines(options: { target: BackhaulTarget; maxconn: number }): string[] {
  const { target } = options;
  const listen = formatListen({ ...target.listen, port: target.listen.port + BACKHAUL_TCP_OFFSET });
  return [
    '',
    'frontend nearby_backhaul_tcp',
    '  mode tcp',
    '  option tcplog',
    `  bind ${listen} accept-proxy ssl crt ${quote(target.certFile)} ca-file ${quote(target.caFile)} verify required`,
    `  maxconn ${options.maxconn}`,
    // Belt and braces: the handshake already refused clients without a cluster certificate.
    '  tcp-request content reject unless { ssl_c_used } { ssl_c_verify 0 }',
    `  use_backend %[fc_pp_unique_id] if { fc_pp_unique_id -m reg ${DEDICATED_BACKEND} }`,
    '  default_backend nearby_no_tcp_backend',
    '',
    'backend nearby_no_tcp_backend',
    '  mode tcp',
    '  tcp-request content reject',
  ];
}

/**
 * A far twin's defaults: TLS with the cluster credential to every slot, and for TCP a PROXY v2
 * header naming the backend the far side must use (the frontend's unique id); a dedicated HTTP
 * port names it in a header instead, and the app's HTTP backend needs neither (the far side
 * routes it by Host).
 */
export function farBackendLines(
  target: BackhaulTarget,
  mode: 'http' | 'tcp',
  far: { of: string; byHost?: boolean },
): string[] {
  const tls = `ssl crt ${quote(target.certFile)} ca-file ${quote(target.caFile)} verify required`;
  if (mode === 'tcp') return [`  default-server ${tls} send-proxy-v2 proxy-v2-options unique-id`];
  const named = far.byHost === true ? [] : [`  http-request set-header ${BACKEND_HEADER} ${far.of}`];
  return [...named, `  default-server ${tls}`];
}
