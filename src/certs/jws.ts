/**
 * RFC 7515/8555 signing for ACME: an ECDSA P-256 account key, its JWK and thumbprint (RFC 7638),
 * and flattened JWS bodies signed with ES256.
 */
import { createHash, createPrivateKey, type KeyObject, sign } from 'node:crypto';

export interface AccountKey {
  key: KeyObject;
  jwk: { crv: string; kty: string; x: string; y: string };
}

export function accountKey(privateKeyPem: string): AccountKey {
  const key = createPrivateKey(privateKeyPem);
  const { crv, kty, x, y } = key.export({ format: 'jwk' });
  if (kty !== 'EC' || crv !== 'P-256' || !x || !y)
    throw new Error('the ACME account key must be ECDSA P-256');
  return { key, jwk: { crv, kty, x, y } };
}

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** RFC 7638: SHA-256 of the JWK's required members in lexicographic order. */
export function thumbprint(jwk: AccountKey['jwk']): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical).digest('base64url');
}

/** The HTTP-01 key authorization a token must be answered with. */
export const keyAuthorization = (token: string, jwk: AccountKey['jwk']) => `${token}.${thumbprint(jwk)}`;

/**
 * A flattened JWS. `kid` (the account URL) once the account exists, the JWK before. A payload of
 * `undefined` is a POST-as-GET (empty payload).
 */
export function signJws(
  account: AccountKey,
  header: { url: string; nonce: string; kid?: string },
  payload: unknown,
): string {
  const protectedHeader = b64url(
    JSON.stringify({
      alg: 'ES256',
      nonce: header.nonce,
      url: header.url,
      ...(header.kid ? { kid: header.kid } : { jwk: account.jwk }),
    }),
  );
  const body = payload === undefined ? '' : b64url(JSON.stringify(payload));
  const signature = sign('sha256', Buffer.from(`${protectedHeader}.${body}`), {
    key: account.key,
    dsaEncoding: 'ieee-p1363',
  });
  return JSON.stringify({ protected: protectedHeader, payload: body, signature: b64url(signature) });
}
