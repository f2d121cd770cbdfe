/**
 * Registry bearer tokens: JWTs in the shape distribution's `auth: token` checks (issuer, audience,
 * expiry, `access` claims), ES256-signed, with the certificate in `x5c` so the registry verifies the
 * signature against its root bundle without matching a libtrust key id.
 */
import { randomBytes, sign } from 'node:crypto';
import type { SigningKey } from './signing-key.ts';

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  issuer: string;
  service: string;
  subject: string;
  access: AccessEntry[];
  ttlSeconds: number;
}

const base64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

export function signRegistryToken(key: SigningKey, claims: TokenClaims, now = Date.now()): string {
  const seconds = Math.floor(now / 1000);
  const header = { typ: 'JWT', alg: 'ES256', x5c: [key.certDer.toString('base64')] };
  const payload = {
    iss: claims.issuer,
    sub: claims.subject,
    aud: claims.service,
    // A little slack for clocks: the registry checks nbf and exp against its own.
    nbf: seconds - 30,
    iat: seconds,
    exp: seconds + claims.ttlSeconds,
    jti: randomBytes(12).toString('hex'),
    access: claims.access,
  };
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  // JOSE wants the raw r||s form, not DER.
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signingInput}.${base64url(signature)}`;
}
