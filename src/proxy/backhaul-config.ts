/**
 * The HAProxy lines of the backhaul (docs/proxy.md, "Routing across hosts"): a TLS listener that
 * only nearby's proxies may use — HAProxy refuses, during the handshake, any client without a
 * certificate of the cluster's CA — and the TLS settings the app backends' slots use when they
 * point at another host's backhaul. Requests arriving there keep what the first proxy set
 * (client address, request id, protocol) and are routed like any other, by `Host`, to this host's
 * machines: a proxy with a machine of the app always routes to its own host first (placement.ts).
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

const quote = (text: string) => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/**
 * The app backends' slots: TLS settings for all of them (`default-server`), off on each slot
 * (`no-ssl`) until it points at a backhaul, where `set server … ssl on` turns them on at run
 * time — HAProxy 2.6 can only switch TLS on a server whose defaults define it.
 */
export function backhaulDefaultServer(target: BackhaulTarget): string {
  return `  default-server ssl crt ${quote(target.certFile)} ca-file ${quote(target.caFile)} verify required`;
}

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
    ...options.routing,
  ];
}
