/**
 * The simplest cluster credential for the backhaul (docs/proxy.md): one self-signed certificate
 * every proxy shares, which is also the CA they check each other against. Made with openssl, as
 * the README's command does by hand.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';

export interface BackhaulCredential {
  /** The certificate and its key in one PEM (`--backhaul-cert`). */
  certFile: string;
  /** The certificate alone (`--backhaul-ca`). */
  caFile: string;
  /** The key alone. */
  keyFile: string;
}

/** Writes `key.pem`, `ca.pem` and `cluster.pem` (mode 0600) into `dir`. @throws Error naming openssl's complaint */
export async function makeBackhaulCredential(
  dir: string,
  subject: string,
  days = 365,
): Promise<BackhaulCredential> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, 'key.pem');
  const caFile = join(dir, 'ca.pem');
  const made = await runCommand(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-days', String(days), '-subj', `/CN=${subject}`, '-keyout', keyFile, '-out', caFile],
    ],
    { timeoutMs: 30_000 },
  );
  if (made.code !== 0)
    throw new Error(`openssl could not make the backhaul credential: ${made.stderr.trim()}`);
  const certFile = join(dir, 'cluster.pem');
  const pem = (await readFile(caFile, 'utf8')) + (await readFile(keyFile, 'utf8'));
  await writeFile(certFile, pem, { mode: 0o600 });
  return { certFile, caFile, keyFile };
}
