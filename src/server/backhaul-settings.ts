/**
 * The edge proxy's backhaul from `--backhaul-*` (docs/proxy.md, "Routing across hosts"): the
 * mutual-TLS listener other hosts' proxies reach this host's machines through, where they reach it,
 * and the cluster's credential. Checked when the flags are read, so a missing flag or a wrong file
 * is named before anything starts; a key given apart is joined to its certificate at start
 * (HAProxy's `crt` and Node's TLS read one PEM holding both).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { usageError } from '../cli/command.ts';

export interface BackhaulSettings {
  /** `host:port` of the listener. */
  listen: string;
  /** `host:port` other proxies reach it at (published in `proxies/<host>`). */
  advertise: string;
  /** PEM: this proxy's certificate, issued by the cluster's CA; with its key unless `keyFile`. */
  certFile: string;
  keyFile?: string;
  /** PEM: the cluster's CA (one or more certificates); peers need a certificate it signed. */
  caFile: string;
}

/** What the proxy takes as its name (startProxy checks the same): it goes into `Via` and `proxies/<host>`. */
const PROXY_HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const HOST_PORT = /^(?:\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/;
const CERTIFICATES = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The proxy's name: the host name, unless HAProxy cannot carry it in `Via` (then the proxy's default). */
export function proxyHostName(hostName: string): string | undefined {
  return PROXY_HOST_NAME.test(hostName) ? hostName : undefined;
}

/**
 * The backhaul from its flags (`get` reads a flag, then its `NEARBY_*` variable); undefined when
 * `--backhaul-listen` is absent or `off`.
 * @throws NearbyError USAGE naming the flag: a backhaul flag without --backhaul-listen, no --nats,
 *   a bad address, a wildcard address with no --backhaul-advertise, a host name the proxy cannot
 *   go by, an unreadable file, a key that is not the certificate's, a certificate the CA did not
 *   sign or that has expired
 */
export function readBackhaul(
  get: (flag: string) => string | undefined,
  context: { nats: boolean; hostName: string; now?: number },
): BackhaulSettings | undefined {
  const listenText = get('backhaul-listen');
  if (listenText === undefined || listenText === 'off') {
    const stray = ['backhaul-advertise', 'backhaul-cert', 'backhaul-key', 'backhaul-ca'].find(
      (flag) => get(flag) !== undefined,
    );
    if (stray) throw usageError(`--${stray} needs --backhaul-listen ADDR (without it the backhaul is off)`);
    return undefined;
  }
  const listen = hostPort('backhaul-listen', listenText, 'such as 10.0.0.2:4443');
  if (!context.nats)
    throw usageError(
      '--backhaul-listen: the backhaul joins this proxy to the proxies of other hosts; it needs --nats (the store they share)',
    );
  const certText = get('backhaul-cert');
  const caText = get('backhaul-ca');
  if (certText === undefined || caText === undefined)
    throw usageError(
      `--backhaul-listen needs --backhaul-cert FILE and --backhaul-ca FILE: the cluster's credential (docs/proxy.md, "Routing across hosts")`,
    );
  const advertiseText = get('backhaul-advertise');
  const advertise = hostPort('backhaul-advertise', advertiseText ?? listen, 'such as 10.0.0.2:4443');
  if (isWildcard(advertise))
    throw usageError(
      advertiseText === undefined
        ? `--backhaul-listen ${listen} is every address of this host: give --backhaul-advertise HOST:PORT, where the other hosts' proxies reach this one (e.g. 10.0.0.2:4443)`
        : `--backhaul-advertise: '${advertise}' is not an address other hosts can reach; give this host's, e.g. 10.0.0.2:4443`,
    );
  if (!PROXY_HOST_NAME.test(context.hostName))
    throw usageError(
      `--host-name: '${context.hostName}' cannot name this proxy to the others (Via, proxies/<host>): use letters, digits, '.', '_' and '-'`,
    );
  const keyText = get('backhaul-key');
  const settings: BackhaulSettings = {
    listen,
    advertise,
    certFile: resolve(certText),
    ...(keyText === undefined ? {} : { keyFile: resolve(keyText) }),
    caFile: resolve(caText),
  };
  checkCredential(settings, context.now ?? Date.now());
  return settings;
}

/**
 * The PEM file with the certificate and its key that the proxy is given: `--backhaul-cert` itself,
 * or both joined into `<data-dir>/backhaul/credential.pem` (mode 0600) when the key is apart.
 */
export async function backhaulCredentialFile(settings: BackhaulSettings, dataDir: string): Promise<string> {
  if (settings.keyFile === undefined) return settings.certFile;
  const dir = join(dataDir, 'backhaul');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'credential.pem');
  const [cert, key] = await Promise.all([
    readFile(settings.certFile, 'utf8'),
    readFile(settings.keyFile, 'utf8'),
  ]);
  await writeFile(file, `${cert.trimEnd()}\n${key.trimEnd()}\n`, { mode: 0o600 });
  return file;
}

function hostPort(flag: string, text: string, example: string): string {
  const port = Number(HOST_PORT.exec(text.trim())?.[1]);
  if (!(port >= 1 && port <= 65535))
    throw usageError(`--${flag}: expected HOST:PORT ${example}, got '${text}'`);
  return text.trim();
}

function isWildcard(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === '' || host === '0.0.0.0' || host === '::';
}

function readPem(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw usageError(`--${flag}: cannot read ${file}${code ? ` (${code})` : ''}`);
  }
}

function certificatesIn(flag: string, file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(CERTIFICATES) ?? [];
  if (blocks.length === 0) throw usageError(`--${flag}: ${file} holds no PEM certificate`);
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    throw usageError(`--${flag}: ${file} holds a certificate that cannot be read`);
  }
}

/** The checks a peer's HAProxy makes in the handshake, made here first, with the flag to fix. */
function checkCredential(settings: BackhaulSettings, now: number): void {
  const { certFile, keyFile, caFile } = settings;
  const [certificate] = certificatesIn('backhaul-cert', certFile, readPem('backhaul-cert', certFile));
  const keyFlag = keyFile === undefined ? 'backhaul-cert' : 'backhaul-key';
  const keyPem =
    keyFile === undefined ? readPem('backhaul-cert', certFile) : readPem('backhaul-key', keyFile);
  if (!keyPem.includes('PRIVATE KEY-----'))
    throw usageError(
      keyFile === undefined
        ? `--backhaul-cert: ${certFile} holds no private key; give it with --backhaul-key FILE, or in the same file`
        : `--backhaul-key: ${keyFile} holds no PEM private key`,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw usageError(
      `--${keyFlag}: the private key in ${keyFile ?? certFile} cannot be read (a key with a passphrase is not supported)`,
    );
  }
  if (!certificate.checkPrivateKey(key))
    throw usageError(
      `--${keyFlag}: the private key in ${keyFile ?? certFile} is not the key of ${certFile}'s certificate`,
    );
  const authorities = certificatesIn('backhaul-ca', caFile, readPem('backhaul-ca', caFile));
  if (!authorities.some((authority) => certificate.verify(authority.publicKey)))
    throw usageError(
      `--backhaul-cert: the certificate in ${certFile} was not issued by the CA in ${caFile}: the other proxies would refuse it`,
    );
  if (Date.parse(certificate.validTo) <= now)
    throw usageError(`--backhaul-cert: the certificate in ${certFile} expired on ${certificate.validTo}`);
}
