/**
 * The key nearby signs registry tokens with, and its self-signed certificate: the registry trusts
 * it as its `rootcertbundle`. Made at first start in `<data-dir>/registry/`, kept across restarts.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';
import { registryErrors } from './errors.ts';

export interface SigningKey {
  privateKey: KeyObject;
  /** The certificate as DER, for the JWT's `x5c` header. */
  certDer: Buffer;
  certPath: string;
}

const CERT_DAYS = 3650;

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Loads the signing key from `dir`, creating key and certificate the first time. */
export async function openSigningKey(dir: string): Promise<SigningKey> {
  const keyPath = join(dir, 'token-signing.key');
  const certPath = join(dir, 'token-signing.crt');
  if (!(await exists(keyPath)) || !(await exists(certPath))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const made = await runCommand(
      'openssl',
      [
        'req',
        '-x509',
        '-new',
        '-key',
        keyPath,
        '-subj',
        '/CN=nearby registry token signer',
        '-days',
        String(CERT_DAYS),
        '-out',
        certPath,
      ],
      { timeoutMs: 10_000 },
    ).catch((error: Error) => ({ code: 1, stderr: error.message }));
    if (made.code !== 0) throw registryErrors.keyFailed('create', made.stderr.trim());
  }
  try {
    const privateKey = createPrivateKey(await readFile(keyPath));
    const certDer = new X509Certificate(await readFile(certPath)).raw;
    return { privateKey, certDer, certPath };
  } catch (error) {
    throw registryErrors.keyFailed('read', (error as Error).message);
  }
}
