/** Self-signed certificates for tests and benchmarks, made with openssl (P-256). */
import { runCommand } from '../../src/run-command.ts';

/**
 * Writes a self-signed certificate for `names` (the first is its CN; `IP:` entries allowed) to
 * `certFile` and its key to `keyFile`.
 */
export async function selfSignedCert(
  names: string[],
  files: { certFile: string; keyFile: string },
  days = 2,
): Promise<void> {
  const altNames = names.map((name) => (name.startsWith('IP:') ? name : `DNS:${name}`)).join(',');
  const made = await runCommand('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-subj',
    `/CN=${names[0]}`,
    '-addext',
    `subjectAltName=${altNames}`,
    '-days',
    String(days),
    '-keyout',
    files.keyFile,
    '-out',
    files.certFile,
  ]);
  if (made.code !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
}
