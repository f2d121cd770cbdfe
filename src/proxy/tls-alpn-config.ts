/**
 * The HAProxy lines that let the shared TLS port answer ACME TLS-ALPN-01 (RFC 8737): HAProxy cannot
 * pick a certificate by ALPN in HTTP mode, so a TCP front reads the ClientHello and sends those that
 * offer `acme-tls/1` to nearby's Node responder (src/certs/tls-alpn-responder.ts), everything else
 * to the usual TLS termination on a unix socket, with PROXY v2 so client addresses stay right.
 * Only rendered when the server validates `certs add` by TLS-ALPN-01 (`--acme-challenge`).
 */
import { join } from 'node:path';
import { formatListen, type ListenAddress, type ProxyPaths } from './haproxy-config.ts';

/** Where `frontend nearby_https` terminates TLS when the TCP front is in front of it. */
export const innerTlsSocket = (paths: ProxyPaths) => join(paths.dir, 'https.sock');

/** The bind address of `frontend nearby_https` behind the TCP front (the `ssl …` part follows). */
export const innerTlsBind = (paths: ProxyPaths) => `"unix@${innerTlsSocket(paths)}" accept-proxy`;

export function tlsAlpnSections(options: {
  paths: ProxyPaths;
  tlsListen: ListenAddress;
  responder: ListenAddress;
  maxconn: number;
}): string[] {
  return [
    '',
    'frontend nearby_tls_in',
    '  mode tcp',
    `  bind ${formatListen(options.tlsListen)}`,
    `  maxconn ${options.maxconn}`,
    // Requests are logged by nearby_https; this hop logs only failed connections.
    '  option tcplog',
    '  option dontlog-normal',
    '  tcp-request inspect-delay 5s',
    '  tcp-request content accept if { req.ssl_hello_type 1 }',
    '  use_backend nearby_acme_tls if { req.ssl_alpn acme-tls/1 }',
    '  default_backend nearby_tls_terminate',
    '',
    'backend nearby_tls_terminate',
    '  mode tcp',
    `  server https "unix@${innerTlsSocket(options.paths)}" send-proxy-v2`,
    '',
    'backend nearby_acme_tls',
    '  mode tcp',
    `  server acme ${formatListen(options.responder)}`,
  ];
}
