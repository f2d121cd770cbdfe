/**
 * Certificates and observability end to end: a real `nearby server` (HAProxy), a real ACME server
 * (pebble) validating HTTP-01 through nearby's proxy port, the local CA, uploads; a second server
 * validating TLS-ALPN-01 on its TLS port and getting its apps domain's wildcard by DNS-01 from its
 * own DNS responder (one pebble for both); then one access log line per request and `/metrics`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import type { MachineView } from '../src/model/mod.ts';
import { selfSignedCert } from './helpers/certs.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type PebbleTls, preparePebble, startPebble } from './helpers/pebble.ts';
import { freePort, startRegistry } from './helpers/registry.ts';

const run = promisify(execFile);

async function curl(url: string, ...extra: string[]): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '--max-time', '20', '-w', '\n%{http_code}', ...extra, url]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

describe('certificates, access log and metrics', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let pebbleTls: PebbleTls;
  let metricsPort: number;
  let tlsPort: number;
  let workdir: string;
  /** The second server's TLS port and DNS-01 responder, known before pebble starts. */
  let alpnTlsPort: number;
  let alpnDnsPort: number;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    pebbleTls = await preparePebble(hooks);
    metricsPort = await freePort();
    // The server is a child process: it inherits these (the test runner runs each file in its own process).
    process.env.NEARBY_ACME_DIRECTORY = pebbleTls.directoryUrl;
    process.env.NODE_EXTRA_CA_CERTS = pebbleTls.certFile;
    process.env.NEARBY_METRICS_LISTEN = `127.0.0.1:${metricsPort}`;
    tlsPort = await freePort();
    nearby = await startNearby(hooks, { args: ['--proxy-tls-listen', `127.0.0.1:${tlsPort}`] });
    workdir = await mkdtemp(join(tmpdir(), 'nearby-certs-'));
    cleanups.push(() => rm(workdir, { recursive: true, force: true }));
    const created = await nearby.cli(['apps', 'create', 'web']);
    assert.equal(created.code, 0, created.stderr);
  });

  test('an app on the apps domain gets a local-CA certificate without asking; `certs ca` says how to trust it', async () => {
    const shown = await eventually(async () => {
      const result = await nearby.cli(['certs', 'show', 'web.localhost', '-a', 'web']);
      return /Status:\s+issued/.test(result.stdout) ? result.stdout : undefined;
    });
    assert.match(shown, /Source:\s+local-ca/);
    assert.match(shown, /Renews:\s+\d{4}-/);
    const ca = await nearby.cli(['certs', 'ca']);
    assert.equal(ca.code, 0, ca.stderr);
    const path = /local CA certificate is (\S+) on/.exec(ca.stdout)?.[1];
    assert.ok(path, ca.stdout);
    assert.match(ca.stdout, /update-ca-certificates/);
    const pem = await nearby.cli(['certs', 'ca', '--pem']);
    assert.equal(pem.stdout.trim(), (await readFile(path, 'utf8')).trim());
    const removed = await nearby.cli(['certs', 'remove', 'web.localhost', '-a', 'web']);
    assert.equal(removed.code, 1);
    assert.match(removed.stderr, /served by the local CA for as long as the app exists/);
  });

  test('certs add gets a certificate from pebble through the real HTTP-01 flow on the proxy port', async () => {
    alpnTlsPort = await freePort();
    alpnDnsPort = await freePort();
    await startPebble(hooks, {
      httpPort: nearby.proxyPort,
      tlsPort: alpnTlsPort,
      resolvable: ['www.example.com', 'alpn.example.com'],
      tls: pebbleTls,
      // What the operator's NS record does: _acme-challenge.<apps domain> is answered by nearby.
      delegate: { zone: '_acme-challenge.apps.example.com', port: alpnDnsPort },
    });
    const added = await nearby.cli(['certs', 'add', 'www.example.com', '-a', 'web']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /Requested a certificate for www\.example\.com/);
    const shown = await eventually(
      async () => {
        const result = await nearby.cli(['certs', 'show', 'www.example.com', '-a', 'web']);
        return /Status:\s+issued/.test(result.stdout) ? result.stdout : undefined;
      },
      90_000,
      'the ACME certificate',
    ).catch((error) => {
      throw new Error(`${error}\n${nearby.output().slice(-4000)}`);
    });
    assert.match(shown, /Source:\s+acme/);
    assert.match(shown, /Issuer:\s+.*Pebble/i);
    const list = await nearby.cli(['certs', 'list', '-a', 'web']);
    assert.match(list.stdout, /www\.example\.com\s+issued\s+acme/);
    assert.match(list.stdout, /web\.localhost\s+issued\s+local-ca/);
  });

  test('a host name pebble cannot validate shows as failed, with the reason', async () => {
    const added = await nearby.cli(['certs', 'add', 'nowhere.example.com', '-a', 'web']);
    assert.equal(added.code, 0, added.stderr);
    const shown = await eventually(
      async () => {
        const result = await nearby.cli(['certs', 'show', 'nowhere.example.com', '-a', 'web']);
        return /Status:\s+failed/.test(result.stdout) ? result.stdout : undefined;
      },
      90_000,
      'the failure',
    );
    assert.match(shown, /Error:\s+.*nowhere\.example\.com/);
    assert.match(shown, /Next try:\s+\d{4}-/);
    const removed = await nearby.cli(['certs', 'remove', 'nowhere.example.com', '-a', 'web']);
    assert.equal(removed.code, 0, removed.stderr);
    const list = await nearby.cli(['certs', 'list', '-a', 'web']);
    assert.doesNotMatch(list.stdout, /nowhere/);
  });

  test('an uploaded certificate is checked against its key and host name', async () => {
    const make = async (name: string) => {
      await selfSignedCert(
        [name],
        {
          certFile: join(workdir, `${name}.crt`),
          keyFile: join(workdir, `${name}.key`),
        },
        30,
      );
    };
    await make('up.example.com');
    await make('other.example.com');
    const mismatched = await nearby.cli([
      'certs',
      'add',
      'up.example.com',
      '-a',
      'web',
      '--cert',
      join(workdir, 'up.example.com.crt'),
      '--key',
      join(workdir, 'other.example.com.key'),
    ]);
    assert.equal(mismatched.code, 1);
    assert.match(mismatched.stderr, /not usable: the key does not match the certificate/);
    const wrongHost = await nearby.cli([
      'certs',
      'add',
      'up.example.com',
      '-a',
      'web',
      '--cert',
      join(workdir, 'other.example.com.crt'),
      '--key',
      join(workdir, 'other.example.com.key'),
    ]);
    assert.match(wrongHost.stderr, /not valid for up\.example\.com/);
    const uploaded = await nearby.cli([
      'certs',
      'add',
      'up.example.com',
      '-a',
      'web',
      '--cert',
      join(workdir, 'up.example.com.crt'),
      '--key',
      join(workdir, 'up.example.com.key'),
    ]);
    assert.equal(uploaded.code, 0, uploaded.stderr);
    assert.match(uploaded.stdout, /Certificate for up\.example\.com \(upload\) expires \d{4}-/);
    const { body } = await nearby.api<{ hostname: string; status: string; source: string }>(
      'GET',
      '/v1/apps/web/certificates/up.example.com',
    );
    assert.equal(body.status, 'issued');
    assert.equal(body.source, 'upload');
    assert.equal(JSON.stringify(body).includes('PRIVATE KEY'), false, 'the API never returns a key');
  });

  test('HAProxy serves each certificate by SNI; a client trusting the local CA verifies the app', async () => {
    const handshake = (servername: string, ca?: string) => tlsHandshake(tlsPort, servername, { ca });
    const ca = (await nearby.cli(['certs', 'ca', '--pem'])).stdout;
    const app = await eventually(
      async () => {
        const result = await handshake('web.localhost', ca);
        return result.authorized ? result : undefined;
      },
      30_000,
      'a verified handshake for web.localhost',
    );
    assert.equal(app.names, 'DNS:web.localhost');
    const custom = await eventually(
      async () => {
        const result = await handshake('www.example.com');
        return result.names === 'DNS:www.example.com' ? result : undefined;
      },
      30_000,
      'the ACME certificate served for www.example.com',
    );
    assert.match(custom.issuer, /Pebble/i);
    const uploaded = await eventually(
      async () => {
        const result = await handshake('up.example.com');
        return result.names === 'DNS:up.example.com' ? result : undefined;
      },
      30_000,
      'the uploaded certificate served',
    );
    assert.equal(uploaded.issuer, 'up.example.com');
  });

  test('with --acme-challenge tls-alpn-01 the TLS port answers acme-tls/1; --acme-dns-listen gets the apps domain a wildcard by DNS-01', async () => {
    const second = await startNearby(hooks, {
      args: [
        '--proxy-tls-listen',
        `127.0.0.1:${alpnTlsPort}`,
        '--acme-challenge',
        'tls-alpn-01',
        '--acme-dns-listen',
        `127.0.0.1:${alpnDnsPort}`,
        '--apps-domain',
        'apps.example.com',
        '--metrics-listen',
        'off',
      ],
    });
    const created = await second.cli(['apps', 'create', 'shop']);
    assert.equal(created.code, 0, created.stderr);
    const added = await second.cli(['certs', 'add', 'alpn.example.com', '-a', 'shop']);
    assert.equal(added.code, 0, added.stderr);
    const shown = await eventually(
      async () => {
        const result = await second.cli(['certs', 'show', 'alpn.example.com', '-a', 'shop']);
        return /Status:\s+(issued|failed)/.test(result.stdout) ? result.stdout : undefined;
      },
      90_000,
      'the TLS-ALPN-01 certificate',
    ).catch((error) => {
      throw new Error(`${error}\n${second.output().slice(-4000)}`);
    });
    assert.match(shown, /Status:\s+issued/, `${shown}\n${second.output().slice(-3000)}`);
    assert.match(shown, /Issuer:\s+.*Pebble/i);
    assert.match(second.output(), /ACME TLS-ALPN-01 challenge answered/);

    const handshake = (servername: string, ALPNProtocols?: string[]) =>
      tlsHandshake(alpnTlsPort, servername, { ALPNProtocols });
    // Ordinary clients still reach HAProxy's TLS termination through the TCP front.
    const served = await eventually(
      async () => {
        const result = await handshake('alpn.example.com', ['h2', 'http/1.1']);
        return /Pebble/i.test(result.issuer) ? result : undefined;
      },
      30_000,
      'the TLS-ALPN-01 certificate served',
    );
    assert.equal(served.names, 'DNS:alpn.example.com');
    assert.equal(served.protocol, 'h2');
    const page = await curl(
      `https://shop.apps.example.com:${alpnTlsPort}/through-the-front`,
      '-k',
      '--resolve',
      `shop.apps.example.com:${alpnTlsPort}:127.0.0.1`,
    );
    assert.ok(
      [404, 503].includes(page.status),
      `HAProxy's HTTP frontend answers: ${page.status} ${page.body}`,
    );
    // PROXY v2 from the TCP front keeps the client's address for the HTTP rules and the access log.
    const logged = await eventually(async () =>
      second
        .output()
        .split('\n')
        .filter((text) => text.startsWith('{') && text.includes('/through-the-front'))
        .map((text) => JSON.parse(text) as { client_ip?: string; path?: string })
        .find((entry) => entry.path?.endsWith('/through-the-front')),
    );
    assert.equal(logged.client_ip, '127.0.0.1');

    // The apps domain's wildcard, validated through nearby's DNS responder, replaces the local CA.
    const wildcard = await eventually(
      async () => {
        const result = await handshake('shop.apps.example.com');
        return result.names === 'DNS:*.apps.example.com' ? result : undefined;
      },
      90_000,
      'the wildcard served for shop.apps.example.com',
    ).catch((error) => {
      throw new Error(`${error}\n${second.output().slice(-4000)}`);
    });
    assert.match(wildcard.issuer, /Pebble/i);
    assert.match(second.output(), /DNS-01 query answered/);
    // The app's own host reports the wildcard that serves it, and cannot be removed by itself.
    const covered = await second.cli(['certs', 'show', 'shop.apps.example.com', '-a', 'shop']);
    assert.equal(covered.code, 0, covered.stderr);
    assert.match(covered.stdout, /Status:\s+issued/);
    assert.match(covered.stdout, /Served by:\s+\*\.apps\.example\.com/);
    assert.match(covered.stdout, /Issuer:\s+.*Pebble/i);
    const listed = await second.cli(['certs', 'list', '-a', 'shop']);
    assert.match(listed.stdout, /shop\.apps\.example\.com\s+issued\s+acme/);
    const removed = await second.cli(['certs', 'remove', 'shop.apps.example.com', '-a', 'shop']);
    assert.equal(removed.code, 1);
    assert.match(removed.stderr, /served by the wildcard \*\.apps\.example\.com/);
  });

  test('each request is one access-log line and shows in /metrics, per app', async () => {
    const registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    const config = {
      image,
      services: [{ protocol: 'tcp', internal_port: 8080, ports: [{ port: 80, handlers: ['http'] }] }],
    };
    const { status, body: machine } = await nearby.api<MachineView>('POST', '/v1/apps/web/machines', {
      config,
    });
    assert.equal(status, 200, JSON.stringify(machine));
    await nearby.api('GET', `/v1/apps/web/machines/${machine.id}/wait?state=started&timeout=60`);
    const answered = await eventually(async () => {
      const response = await curl(`http://web.localhost:${nearby.proxyPort}/headers`);
      return response.status === 200 ? response.body : undefined;
    });
    const requestId = /^fly-request-id: (\S+)/im.exec(answered)?.[1];
    assert.ok(requestId, answered);

    const line = await eventually(async () =>
      nearby
        .output()
        .split('\n')
        .filter((text) => text.startsWith('{'))
        .map((text) => JSON.parse(text) as Record<string, unknown>)
        .find((entry) => entry.request_id === requestId),
    );
    assert.equal(line.app, 'web');
    assert.equal(line.machine, machine.id);
    assert.equal(line.region, 'fra');
    assert.equal(line.status, 200);
    assert.equal(line.path, '/headers');
    assert.equal(typeof (line.timing as { total_ms: number }).total_ms, 'number');
    assert.equal(line.msg, 'GET /headers 200');

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, /^haproxy_backend_http_responses_total\{proxy="app_web",code="2xx"\} [1-9]/m);
    assert.match(metrics, /^nearby_http_requests_total\{app="web",region="fra",status_class="2xx"\} [1-9]/m);
    assert.match(metrics, /^nearby_http_request_duration_seconds_count\{app="web",region="fra"\} [1-9]/m);
  });
});

/** One TLS handshake with the proxy: the certificate it served, and the protocol agreed. */
function tlsHandshake(
  port: number,
  servername: string,
  options: { ca?: string; ALPNProtocols?: string[] } = {},
): Promise<{ names: string; issuer: string; authorized: boolean; protocol: string | false | null }> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: '127.0.0.1', port, servername, ...options, rejectUnauthorized: false },
      () => {
        const peer = socket.getPeerCertificate();
        resolve({
          names: peer.subjectaltname ?? '',
          issuer: String(peer.issuer?.CN ?? ''),
          authorized: socket.authorized,
          protocol: socket.alpnProtocol,
        });
        socket.end();
      },
    );
    socket.on('error', reject);
  });
}
