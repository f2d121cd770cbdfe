/**
 * What each ACME challenge type publishes (RFC 8555 §8.3, RFC 8737, RFC 8555 §8.4): the HTTP-01
 * body, the TLS-ALPN-01 certificate, the DNS-01 TXT value. Records go to `acme-challenges/<token>`
 * and every proxy or DNS responder answers from there.
 */
import { createHash } from 'node:crypto';
import { runCommand } from '../run-command.ts';
import { certErrors } from './errors.ts';
import { newPrivateKeyPem, withKeyFile } from './pem.ts';

export type ChallengeType = 'http-01' | 'tls-alpn-01' | 'dns-01';

/** The challenge types `certs add` may use (DNS-01 is only for the apps domain's wildcard). */
export const HOST_CHALLENGES = ['http-01', 'tls-alpn-01'] as const;
export type HostChallenge = (typeof HOST_CHALLENGES)[number];

/** `acme-challenges/<token>`: what nearby answers for one challenge while it is being validated. */
export interface AcmeChallengeRecord {
  token: string;
  key_authorization: string;
  hostname: string;
  created_at: string;
  /** Absent in records written before TLS-ALPN-01 and DNS-01 existed: HTTP-01. */
  type?: ChallengeType;
  /** TLS-ALPN-01: the self-signed certificate and its key, served for ALPN `acme-tls/1`. */
  cert_pem?: string;
  key_pem?: string;
  /** DNS-01: `_acme-challenge.<domain>` and the TXT value to answer. */
  dns_name?: string;
  txt?: string;
}

/** OID of id-pe-acmeIdentifier (RFC 8737 §3). */
const ACME_IDENTIFIER_OID = '1.3.6.1.5.5.7.1.31';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/** DNS-01's TXT value: base64url of the key authorization's SHA-256. */
export const dnsTxtValue = (keyAuthorization: string) => sha256(keyAuthorization).toString('base64url');

/** `_acme-challenge.example.com` for `example.com` and for `*.example.com`. */
export const dnsChallengeName = (hostname: string) => `_acme-challenge.${hostname.replace(/^\*\./, '')}`;

/**
 * The TLS-ALPN-01 certificate: self-signed, SAN = the host name only, and the critical
 * id-pe-acmeIdentifier extension holding the key authorization's SHA-256 as a DER OCTET STRING.
 * @throws NearbyError OPENSSL_FAILED
 */
export async function tlsAlpnCertificate(
  hostname: string,
  keyAuthorization: string,
): Promise<{ certPem: string; keyPem: string }> {
  const keyPem = newPrivateKeyPem();
  // 04 = OCTET STRING, 20 = 32 bytes.
  const extension = `${ACME_IDENTIFIER_OID}=critical,DER:04:20:${sha256(keyAuthorization)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1:')}`;
  const result = await withKeyFile(keyPem, (keyFile) =>
    runCommand(
      'openssl',
      [
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-days',
        '7',
        '-subj',
        `/CN=${hostname}`,
        '-addext',
        `subjectAltName=DNS:${hostname}`,
        '-addext',
        extension,
      ],
      { timeoutMs: 10_000 },
    ),
  );
  if (result.code !== 0) throw certErrors.opensslFailed('make the TLS-ALPN-01 certificate', result.stderr);
  return { certPem: result.stdout, keyPem };
}
