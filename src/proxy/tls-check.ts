/**
 * Whether a certificate record can be served: a PEM certificate and the private key that goes
 * with it. Parsed once per content (routes are recomputed on every store change).
 */
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';

const verdicts = new Map<string, boolean>();
const MAX_REMEMBERED = 10_000;

export function usableCertificate(certPem: unknown, keyPem: unknown): boolean {
  if (typeof certPem !== 'string' || typeof keyPem !== 'string') return false;
  const digest = createHash('sha256').update(certPem).update('\0').update(keyPem).digest('hex');
  const known = verdicts.get(digest);
  if (known !== undefined) return known;
  let usable = false;
  try {
    usable = new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    usable = false;
  }
  if (verdicts.size >= MAX_REMEMBERED) verdicts.clear();
  verdicts.set(digest, usable);
  return usable;
}
