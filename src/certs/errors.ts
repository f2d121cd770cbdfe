/** The certificate part's errors: one factory per failure, each with a stable code and a hint. */
import { errorMessage, NearbyError } from '../errors.ts';

export const certErrors = {
  acmeRequestFailed: (url: string, status: number, problem: string, cause?: unknown) =>
    new NearbyError('ACME_REQUEST_FAILED', `the ACME server answered ${status} to ${url}: ${problem}`, {
      status: 502,
      hint: 'check the ACME directory URL (--acme-directory) and that the server is reachable',
      cause,
    }),
  acmeUnreachable: (url: string, cause: unknown) =>
    new NearbyError('ACME_UNREACHABLE', `cannot reach the ACME server at ${url}`, {
      status: 502,
      hint: 'check --acme-directory (NEARBY_ACME_DIRECTORY) and the network; for a private CA set NODE_EXTRA_CA_CERTS',
      cause,
    }),
  challengeFailed: (hostname: string, detail: string, type = 'http-01') =>
    new NearbyError('ACME_CHALLENGE_FAILED', `the ACME server could not validate ${hostname}: ${detail}`, {
      status: 502,
      hint:
        type === 'dns-01'
          ? `delegate ${hostname.replace(/^\*\./, '_acme-challenge.')} to nearby's DNS responder (--acme-dns-listen) with an NS record, and make sure UDP and TCP port 53 reach it`
          : `point ${hostname}'s DNS at this proxy and make sure port ${type === 'tls-alpn-01' ? 443 : 80} reaches it`,
    }),
  orderFailed: (hostname: string, detail: string) =>
    new NearbyError('ACME_ORDER_FAILED', `the ACME order for ${hostname} failed: ${detail}`, { status: 502 }),
  acmeTimeout: (hostname: string, what: string) =>
    new NearbyError('ACME_TIMEOUT', `the ACME server did not finish ${what} for ${hostname} in time`, {
      status: 504,
      hint: 'nearby tries again later by itself; see `nearby certs show`',
    }),
  dnsListenFailed: (listen: string, cause: unknown) =>
    new NearbyError('ACME_DNS_LISTEN_FAILED', `cannot answer DNS on ${listen}: ${errorMessage(cause)}`, {
      status: 500,
      hint: 'pass another address with --acme-dns-listen HOST:PORT (port 53 needs root), or leave it out to use the local CA',
      cause,
    }),
  localCaUnreadable: (host: string, cause: unknown) =>
    new NearbyError(
      'LOCAL_CA_UNREADABLE',
      `the store's local CA (published by ${host}) cannot be opened with this API's secrets key`,
      {
        status: 500,
        hint: "every API of a store needs the same secrets.key: copy it from the first `nearby api`'s data dir (mode 0600), then start again",
        cause,
      },
    ),
  opensslFailed: (what: string, output: string) =>
    new NearbyError('OPENSSL_FAILED', `openssl could not ${what}: ${output.trim()}`, {
      status: 500,
      hint: 'install the Debian package openssl',
    }),
  invalidHostname: (hostname: string) =>
    new NearbyError(
      'CERT_HOSTNAME_INVALID',
      `'${hostname}' is not a host name a certificate can be issued for`,
      { status: 422, hint: 'use a DNS name such as www.example.com (a leading *. is not supported)' },
    ),
  invalidUpload: (detail: string) =>
    new NearbyError('CERT_UPLOAD_INVALID', `the uploaded certificate is not usable: ${detail}`, {
      status: 422,
      hint: 'send the PEM certificate chain (leaf first) and its unencrypted PEM private key',
    }),
  notFound: (hostname: string, app: string) =>
    new NearbyError('CERT_NOT_FOUND', `no certificate for ${hostname} in app '${app}'`, {
      status: 404,
      hint: `list them with \`nearby certs list -a ${app}\``,
    }),
  otherApp: (hostname: string, app: string) =>
    new NearbyError('CERT_HOSTNAME_TAKEN', `${hostname} belongs to app '${app}'`, {
      status: 409,
      hint: `remove it there first: \`nearby certs remove ${hostname} -a ${app}\``,
    }),
};
