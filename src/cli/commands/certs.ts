/** `nearby certs add|list|show|remove|ca`: TLS certificates for an app's host names. */
import { readFile } from 'node:fs/promises';
import type { CertificateView } from '../../api/routes/certs.ts';
import { appName } from '../app-name.ts';
import type { Command } from '../command.ts';
import { appOption, jsonOption, usageError } from '../command.ts';
import { table } from '../output.ts';

const path = (app: string, hostname?: string) =>
  `/v1/apps/${encodeURIComponent(app)}/certificates${hostname ? `/${encodeURIComponent(hostname)}` : ''}`;

const day = (iso?: string) => (iso ? iso.slice(0, 10) : '');

function details(cert: CertificateView): string {
  const rows: [string, string | undefined][] = [
    ['Hostname', cert.hostname],
    ['App', cert.app],
    ['Status', cert.status],
    ['Source', cert.source],
    ['Served by', cert.covered_by],
    ['Issuer', cert.issuer],
    ['Expires', cert.not_after],
    ['Renews', cert.renew_at],
    ['Error', cert.error],
    ['Attempts', cert.attempts ? String(cert.attempts) : undefined],
    ['Next try', cert.next_attempt_at],
  ];
  return rows
    .filter(([, value]) => value !== undefined && value !== '')
    .map(([name, value]) => `${`${name}:`.padEnd(11)}${value}`)
    .join('\n');
}

const add: Command = {
  name: 'certs add',
  summary: 'get a certificate for a host name (ACME), or upload one',
  help: `Usage: nearby certs add HOSTNAME [-a APP] [--cert FILE --key FILE] [--json]

Without --cert/--key, nearby asks its ACME server (--acme-directory of the server, Let's Encrypt by
default) for a certificate, answering the HTTP-01 challenge on the proxy's HTTP port: point the
host name's DNS at this proxy first. It is renewed when a third of its lifetime is left.
With --cert (PEM chain, leaf first) and --key (PEM private key), that certificate is served as is.`,
  options: { ...appOption, ...jsonOption, cert: { type: 'string' }, key: { type: 'string' } },
  async run({ client, out, values, positionals }) {
    const [hostname] = positionals;
    if (!hostname) throw usageError('which host name? nearby certs add HOSTNAME', add);
    const app = await appName(values);
    const body: Record<string, string> = { hostname };
    if (values.cert !== undefined || values.key !== undefined) {
      if (typeof values.cert !== 'string' || typeof values.key !== 'string') {
        throw usageError('an upload needs both --cert FILE and --key FILE', add);
      }
      body.cert_pem = await readFile(values.cert, 'utf8');
      body.key_pem = await readFile(values.key, 'utf8');
    }
    const cert = await client().request<CertificateView>('POST', path(app), body);
    if (values.json) out(JSON.stringify(cert, null, 2));
    else if (cert.status === 'issued')
      out(`Certificate for ${cert.hostname} (${cert.source}) expires ${day(cert.not_after)}`);
    else
      out(
        `Requested a certificate for ${cert.hostname}; see its progress with \`nearby certs show ${cert.hostname}\``,
      );
    return 0;
  },
};

const list: Command = {
  name: 'certs list',
  summary: "list an app's certificates",
  help: 'Usage: nearby certs list [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const app = await appName(values);
    const { certificates } = await client().request<{ certificates: CertificateView[] }>('GET', path(app));
    if (values.json) out(JSON.stringify(certificates, null, 2));
    else
      out(
        table(
          ['HOSTNAME', 'STATUS', 'SOURCE', 'EXPIRES', 'RENEWS'],
          certificates.map((c) => [c.hostname, c.status, c.source, day(c.not_after), day(c.renew_at)]),
        ),
      );
    return 0;
  },
};

const show: Command = {
  name: 'certs show',
  summary: "a certificate's status: pending, issued (expiry, renewal) or failed (why)",
  help: 'Usage: nearby certs show HOSTNAME [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values, positionals }) {
    const [hostname] = positionals;
    if (!hostname) throw usageError('which host name? nearby certs show HOSTNAME', show);
    const app = await appName(values);
    const cert = await client().request<CertificateView>('GET', path(app, hostname));
    out(values.json ? JSON.stringify(cert, null, 2) : details(cert));
    return 0;
  },
};

const remove: Command = {
  name: 'certs remove',
  summary: 'stop serving a certificate and forget it',
  help: 'Usage: nearby certs remove HOSTNAME [-a APP]',
  options: { ...appOption },
  async run({ client, out, values, positionals }) {
    const [hostname] = positionals;
    if (!hostname) throw usageError('which host name? nearby certs remove HOSTNAME', remove);
    const app = await appName(values);
    await client().request('DELETE', path(app, hostname));
    out(`Removed the certificate for ${hostname}`);
    return 0;
  },
};

const ca: Command = {
  name: 'certs ca',
  summary: "print the local CA's certificate and how to trust it",
  help: `Usage: nearby certs ca [--pem]

Apps on the apps domain get a certificate from nearby's local CA without asking. Clients trust it
once they trust the CA; this prints where it is and how. --pem prints only the certificate.`,
  options: { pem: { type: 'boolean' } },
  async run({ client, out, values }) {
    const authority = await client().request<{ cert_pem: string; path: string; host: string }>(
      'GET',
      '/v1/certificates/ca',
    );
    if (values.pem) {
      out(authority.cert_pem.trim());
      return 0;
    }
    out(`nearby's local CA certificate is ${authority.path} on ${authority.host}.
Apps on the apps domain are served with certificates it signs. To trust it:

  curl:            curl --cacert ${authority.path} https://APP.DOMAIN/
  Debian/Ubuntu:   cp ${authority.path} /usr/local/share/ca-certificates/nearby-ca.crt && update-ca-certificates
  Node.js:         NODE_EXTRA_CA_CERTS=${authority.path} node app.js
  Browsers:        import the file as an authority (Firefox: Settings > Certificates;
                   Chrome on Linux: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n nearby -i ${authority.path})

On another machine, save it first: nearby certs ca --pem > nearby-ca.crt`);
    return 0;
  },
};

export const certs: Command = {
  name: 'certs',
  summary: 'TLS certificates: ACME, uploads and the local CA',
  help: 'Usage: nearby certs <add|list|show|remove|ca>',
  subcommands: [add, list, show, remove, ca],
};
