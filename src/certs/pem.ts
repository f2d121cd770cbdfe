/**
 * Keys, CSRs and certificate facts. Keys come from node:crypto (ECDSA P-256, PKCS#8); CSRs and
 * CA-signed certificates from `openssl` (node:crypto cannot build either), fed on stdin.
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';
import { certErrors } from './errors.ts';

export function newPrivateKeyPem(): string {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * Runs `use` with the key in a private temporary file: openssl reads keys only from files (stdin
 * is a socket under Node, which it cannot open).
 */
export async function withKeyFile<T>(keyPem: string, use: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-key-'));
  try {
    const path = join(dir, 'key.pem');
    await writeFile(path, keyPem, { mode: 0o600 });
    return await use(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A DER CSR for `hostname` (CN and SAN), signed by `keyPem`. */
export async function csrDer(keyPem: string, hostname: string): Promise<Buffer> {
  const result = await withKeyFile(keyPem, (keyFile) =>
    runCommand(
      'openssl',
      [
        'req',
        '-new',
        '-key',
        keyFile,
        '-subj',
        `/CN=${hostname}`,
        '-addext',
        `subjectAltName=DNS:${hostname}`,
      ],
      { timeoutMs: 10_000 },
    ),
  );
  if (result.code !== 0) throw certErrors.opensslFailed('make a CSR', result.stderr);
  return pemBody(result.stdout);
}

export function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** The PEM blocks of a chain, leaf first. */
export function splitPem(chain: string): string[] {
  return chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export interface CertFacts {
  notBefore: Date;
  notAfter: Date;
  /** DNS names the leaf is valid for. */
  names: string[];
  issuer: string;
}

export function certFacts(chainPem: string): CertFacts {
  const [leafPem] = splitPem(chainPem);
  if (leafPem === undefined) throw certErrors.invalidUpload('no PEM certificate in it');
  const leaf = new X509Certificate(leafPem);
  const names = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  return {
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    names,
    issuer: leaf.issuer.replace(/\n/g, ', '),
  };
}

/** Renew when a third of the lifetime is left (Let's Encrypt's 90 days: at 30 days left). */
export function renewAt(facts: Pick<CertFacts, 'notBefore' | 'notAfter'>): Date {
  const lifetime = facts.notAfter.getTime() - facts.notBefore.getTime();
  return new Date(facts.notAfter.getTime() - lifetime / 3);
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** Lower case, validated. @throws NearbyError CERT_HOSTNAME_INVALID */
export function normalizeHostname(hostname: string): string {
  const lower = hostname.trim().toLowerCase().replace(/\.$/, '');
  if (!HOSTNAME.test(lower)) throw certErrors.invalidHostname(hostname);
  return lower;
}
