/**
 * nearby's own certificate authority, made in the data dir on first use: it signs certificates for
 * apps on the apps domain without asking anyone, for users who trust it (`nearby certs ca`).
 */
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';
import { certErrors } from './errors.ts';
import { newPrivateKeyPem, withKeyFile } from './pem.ts';

export interface LocalCa {
  certPath: string;
  certPem: string;
  /** A leaf for `hostname`, valid 90 days, signed by this CA. */
  issue(hostname: string): Promise<{ certPem: string; keyPem: string }>;
}

export const localCaPaths = (dataDir: string) => {
  const dir = join(dataDir, 'ca');
  return { dir, cert: join(dir, 'nearby-ca.crt'), key: join(dir, 'nearby-ca.key') };
};

const LEAF_DAYS = 90;
const CA_DAYS = 3650;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Opens the CA in `<dataDir>/ca/`, creating it the first time. @throws NearbyError OPENSSL_FAILED */
export async function openLocalCa(dataDir: string, name = 'nearby local CA'): Promise<LocalCa> {
  const paths = localCaPaths(dataDir);
  if (!(await exists(paths.cert)) || !(await exists(paths.key))) {
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    const keyPem = newPrivateKeyPem();
    await writeFile(paths.key, keyPem, { mode: 0o600 });
    const created = await runCommand(
      'openssl',
      [
        'req',
        '-x509',
        '-new',
        '-key',
        paths.key,
        '-subj',
        `/CN=${name} ${new Date().toISOString().slice(0, 10)}`,
        '-days',
        String(CA_DAYS),
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        paths.cert,
      ],
      { timeoutMs: 10_000 },
    );
    if (created.code !== 0) throw certErrors.opensslFailed('create the local CA', created.stderr);
  }
  const certPem = await readFile(paths.cert, 'utf8');
  return {
    certPath: paths.cert,
    certPem,
    async issue(hostname) {
      const keyPem = newPrivateKeyPem();
      const signed = await withKeyFile(keyPem, (keyFile) =>
        runCommand(
          'openssl',
          [
            'req',
            '-x509',
            '-new',
            '-key',
            keyFile,
            '-CA',
            paths.cert,
            '-CAkey',
            paths.key,
            '-subj',
            `/CN=${hostname}`,
            '-addext',
            `subjectAltName=DNS:${hostname}`,
            '-addext',
            'basicConstraints=critical,CA:FALSE',
            '-addext',
            'extendedKeyUsage=serverAuth',
            '-days',
            String(LEAF_DAYS),
          ],
          { timeoutMs: 10_000 },
        ),
      );
      if (signed.code !== 0)
        throw certErrors.opensslFailed(`sign a certificate for ${hostname}`, signed.stderr);
      return { certPem: `${signed.stdout.trim()}\n${certPem.trim()}\n`, keyPem };
    },
  };
}
