/** Test certificates made with openssl: a throwaway CA and leaves for given host names (wildcards too). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';

export interface TestCa {
  dir: string;
  certPem: string;
  /** Removes the CA's files. */
  close(): void;
}

async function openssl(args: string[]): Promise<void> {
  const result = await runCommand('openssl', args, { timeoutMs: 30_000 });
  if (result.code !== 0) throw new Error(`openssl ${args[0]} failed: ${result.stderr}`);
}

const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeTestCa(): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-test-ca-'));
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-days',
    '2',
    '-subj',
    '/CN=nearby test CA',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
  ]);
  return {
    dir,
    certPem: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

let serial = 0;

/** A leaf for `hostnames` (the first is its CN), signed by `ca`. */
export async function issueTestCert(
  ca: TestCa,
  hostnames: string[],
): Promise<{ cert_pem: string; key_pem: string }> {
  const name = `leaf${++serial}`;
  const file = (ext: string) => join(ca.dir, `${name}.${ext}`);
  writeFileSync(file('ext'), `subjectAltName=${hostnames.map((host) => `DNS:${host}`).join(',')}\n`);
  await openssl(['req', ...ec, '-subj', `/CN=${hostnames[0]}`, '-keyout', file('key'), '-out', file('csr')]);
  await openssl([
    'x509',
    '-req',
    '-in',
    file('csr'),
    '-CA',
    join(ca.dir, 'ca.crt'),
    '-CAkey',
    join(ca.dir, 'ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('ext'),
    '-out',
    file('crt'),
  ]);
  return { cert_pem: readFileSync(file('crt'), 'utf8'), key_pem: readFileSync(file('key'), 'utf8') };
}
