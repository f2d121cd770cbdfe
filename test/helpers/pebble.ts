/**
 * Let's Encrypt's ACME test server (Debian `pebble`) for tests, with a tiny DNS responder so its
 * validation of `*.example.com` names reaches a local port: the real HTTP-01 flow, no shortcut.
 * Pebble's own HTTPS certificate is made here and returned (`caPem`) for the client to trust.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { selfSignedCert } from './certs.ts';
import { freePort } from './registry.ts';

interface TestContextLike {
  after(fn: () => unknown): void;
}

export interface RunningPebble {
  directoryUrl: string;
  /** Pebble's HTTPS certificate (self-signed, for 127.0.0.1 and localhost). */
  caPem: string;
  caFile: string;
  /** Names the DNS responder answers 127.0.0.1 for; every other name is NXDOMAIN. */
  resolvable: Set<string>;
}

/** A zone served by another DNS server on loopback (what an NS record delegates). */
export interface Delegation {
  zone: string;
  port: number;
}

/**
 * A DNS server on UDP that answers A queries for `resolvable` names with 127.0.0.1, and relays
 * queries for a delegated zone to its server (as a recursive resolver follows an NS record).
 */
export async function startDns(
  t: TestContextLike,
  resolvable: Set<string>,
  delegate?: Delegation,
): Promise<number> {
  const socket = createSocket('udp4');
  const relay = createSocket('udp4');
  const waiting = new Map<number, { port: number; address: string }>();
  relay.on('message', (response) => {
    const peer = waiting.get(response.readUInt16BE(0));
    if (peer === undefined) return;
    waiting.delete(response.readUInt16BE(0));
    socket.send(response, peer.port, peer.address);
  });
  socket.on('message', (query, peer) => {
    if (query.length < 17) return;
    let offset = 12;
    const labels: string[] = [];
    while (offset < query.length && query[offset] !== 0) {
      const length = query[offset];
      labels.push(query.subarray(offset + 1, offset + 1 + length).toString('ascii'));
      offset += length + 1;
    }
    const questionEnd = offset + 5;
    const type = query.readUInt16BE(offset + 1);
    const name = labels.join('.').toLowerCase();
    if (delegate && (name === delegate.zone || name.endsWith(`.${delegate.zone}`))) {
      waiting.set(query.readUInt16BE(0), peer);
      relay.send(query, delegate.port, '127.0.0.1');
      return;
    }
    const known = resolvable.has(name);
    const answers = known && type === 1 ? 1 : 0;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2); // response, recursion available; NXDOMAIN if unknown
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answers, 6);
    const parts = [header, query.subarray(12, questionEnd)];
    if (answers) {
      parts.push(Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 127, 0, 0, 1]));
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  t.after(() => new Promise<void>((resolve) => relay.close(() => resolve())));
  return socket.address().port;
}

export interface PebbleTls {
  /** The port pebble will listen on, so its directory URL is known before it starts. */
  port: number;
  directoryUrl: string;
  certFile: string;
  keyFile: string;
  /** Pebble's HTTPS certificate (self-signed, for 127.0.0.1 and localhost): trust it to talk to pebble. */
  caPem: string;
}

/** Pebble's port and HTTPS certificate, made before it starts (a server under test needs both first). */
export async function preparePebble(t: TestContextLike): Promise<PebbleTls> {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-pebble-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await selfSignedCert(['localhost', 'IP:127.0.0.1'], { certFile, keyFile });
  const port = await freePort();
  return {
    port,
    directoryUrl: `https://127.0.0.1:${port}/dir`,
    certFile,
    keyFile,
    caPem: await readFile(certFile, 'utf8'),
  };
}

/**
 * Starts pebble validating HTTP-01 on `httpPort` and TLS-ALPN-01 on `tlsPort` of 127.0.0.1 (names
 * through the DNS responder), and DNS-01 through `delegate`'s DNS server.
 */
export async function startPebble(
  t: TestContextLike,
  options: {
    httpPort: number;
    tlsPort?: number;
    resolvable?: Iterable<string>;
    tls?: PebbleTls;
    delegate?: Delegation;
  },
): Promise<RunningPebble> {
  const tls = options.tls ?? (await preparePebble(t));
  const dir = await mkdtemp(join(tmpdir(), 'nearby-pebble-run-'));
  const resolvable = new Set(options.resolvable ?? []);
  const dnsPort = await startDns(t, resolvable, options.delegate);
  let child: ChildProcess | undefined;
  t.after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  });
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${tls.port}`,
      managementListenAddress: `127.0.0.1:${await freePort()}`,
      certificate: tls.certFile,
      privateKey: tls.keyFile,
      httpPort: options.httpPort,
      tlsPort: options.tlsPort ?? (await freePort()),
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  };
  const configFile = join(dir, 'pebble.json');
  await writeFile(configFile, JSON.stringify(config));
  let output = '';
  child = spawn('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const deadline = Date.now() + 20_000;
  while (!/Listening on/.test(output)) {
    if (child.exitCode !== null) throw new Error(`pebble exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`pebble did not start within 20 s:\n${output}`);
    await delay(50);
  }
  return { directoryUrl: tls.directoryUrl, caPem: tls.caPem, caFile: tls.certFile, resolvable };
}
