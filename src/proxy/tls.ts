/**
 * Certificates on disk and in HAProxy: a PEM file per host name under `<dataDir>/proxy/certs/`, a
 * crt-list naming them for SNI, a self-signed default so the TLS listeners start before any host
 * has one, and the Runtime API steps that change a certificate without a reload.
 */
import { createHash } from 'node:crypto';
import { access, chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../run-command.ts';
import { defaultCertFailed } from './errors.ts';
import type { ProxyPaths } from './haproxy-config.ts';
import type { WantedCert } from './routes.ts';
import type { RuntimeApi } from './runtime-api.ts';

export const certFile = (paths: ProxyPaths, hostname: string) => join(paths.certsDir, `${hostname}.pem`);

export const certHash = (cert: WantedCert) => createHash('sha256').update(cert.pem).digest('hex');

/** One line per certificate; the SNI filter is the record's host name (wildcards included). */
export function renderCrtList(paths: ProxyPaths, certs: WantedCert[]): string {
  return certs.map((cert) => `${certFile(paths, cert.hostname)} ${cert.hostname}\n`).join('');
}

/** Makes the self-signed default certificate once (kept across restarts). @throws PROXY_DEFAULT_CERT_FAILED */
export async function ensureDefaultCert(paths: ProxyPaths): Promise<void> {
  const exists = await access(paths.defaultCert).then(
    () => true,
    () => false,
  );
  if (exists) return;
  await mkdir(paths.dir, { recursive: true });
  const key = `${paths.defaultCert}.key`;
  const crt = `${paths.defaultCert}.crt`;
  try {
    const made = await runCommand(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '3650',
        '-subj',
        '/CN=nearby default certificate',
        '-keyout',
        key,
        '-out',
        crt,
      ],
      { timeoutMs: 30_000 },
    );
    if (made.code !== 0) throw new Error(made.stderr.trim() || `openssl exited with ${made.code}`);
    const pem = `${(await readFile(crt, 'utf8')).trim()}\n${(await readFile(key, 'utf8')).trim()}\n`;
    await writeFile(`${paths.defaultCert}.tmp`, pem, { mode: 0o600 });
    await rename(`${paths.defaultCert}.tmp`, paths.defaultCert);
  } catch (error) {
    throw defaultCertFailed(error);
  } finally {
    await rm(key, { force: true });
    await rm(crt, { force: true });
  }
}

/** Writes every certificate and the crt-list, and removes files of certificates that are gone. */
export async function writeCertFiles(paths: ProxyPaths, certs: WantedCert[]): Promise<void> {
  await mkdir(paths.certsDir, { recursive: true, mode: 0o700 });
  await chmod(paths.certsDir, 0o700);
  const wanted = new Set(certs.map((cert) => `${cert.hostname}.pem`));
  for (const cert of certs) {
    const file = certFile(paths, cert.hostname);
    await writeFile(`${file}.tmp`, cert.pem, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }
  for (const name of await readdir(paths.certsDir)) {
    if (name.endsWith('.pem') && !wanted.has(name)) await rm(join(paths.certsDir, name), { force: true });
  }
  await writeFile(`${paths.crtList}.tmp`, renderCrtList(paths, certs));
  await rename(`${paths.crtList}.tmp`, paths.crtList);
}

/** Loads a new or changed certificate into the running HAProxy (the files are written first). */
export async function putCertAtRuntime(
  api: RuntimeApi,
  paths: ProxyPaths,
  cert: WantedCert,
  isNew: boolean,
): Promise<void> {
  const file = certFile(paths, cert.hostname);
  if (isNew) await api.newSslCert(file);
  await api.setSslCert(file, cert.pem);
  await api.commitSslCert(file);
  if (isNew) await api.addCrtListEntry(paths.crtList, `${file} ${cert.hostname}`);
}

export async function deleteCertAtRuntime(
  api: RuntimeApi,
  paths: ProxyPaths,
  hostname: string,
): Promise<void> {
  const file = certFile(paths, hostname);
  await api.deleteCrtListEntry(paths.crtList, file);
  await api.deleteSslCert(file);
}
