/**
 * `nearby api|agent|proxy|node` as an operator meets them: a missing or bad `--nats`, a flag of
 * another part, a wrong backhaul flag, and an unreachable NATS cluster each end in one clear
 * error, never a stack trace; `nearby proxy` with `--backhaul-*` serves the backhaul to the
 * cluster's proxies only.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ProxyRecord } from '../src/model/mod.ts';
import { openStore } from '../src/store/mod.ts';
import { startNatsCluster } from './helpers/nats.ts';
import { eventually, nearbyBin } from './helpers/nearby.ts';
import { makeClusterCredential, type TestCredential } from './helpers/proxy-cluster.ts';
import { freePort } from './helpers/registry.ts';

function nearby(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(nearbyBin, args, { timeout: 60_000 }, (error, _stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
    );
  });
}

const noStack = (stderr: string) => assert.doesNotMatch(stderr, /^\s+at /m, `a stack trace:\n${stderr}`);

test('each part entrypoint needs --nats and says so', async () => {
  for (const part of ['api', 'agent', 'proxy', 'node']) {
    const { code, stderr } = await nearby([part]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, new RegExp(`^Error: nearby ${part} needs --nats URLS`, 'm'));
    noStack(stderr);
  }
});

test("a bad URL or another part's flag is a usage error naming it", async () => {
  const bad = await nearby(['agent', '--nats', 'http://10.0.0.1/x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--nats: 'http:\/\/10\.0\.0\.1\/x' is not a NATS server URL/);
  const foreign = await nearby(['proxy', '--nats', 'nats://127.0.0.1:4222', '--machine-cidr', '10.1.0.0/24']);
  assert.equal(foreign.code, 2);
  assert.match(foreign.stderr, /machine-cidr/);
  assert.match(foreign.stderr, /nearby proxy --help/);
});

test('an unreachable NATS cluster is STORE_UNAVAILABLE with its URLs, not a stack trace', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'nearby-entrypoint-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const url = `nats://127.0.0.1:${await freePort()}`;
  const { code, stderr } = await nearby([
    'api',
    '--nats',
    url,
    '--data-dir',
    dataDir,
    '--log-format',
    'json',
  ]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, new RegExp(`^Error: .*${url.replace(/[.:/]/g, '\\$&')}.*unreachable`, 'm'));
  assert.match(stderr, /^Hint: /m);
  noStack(stderr);
});

test('a wrong backhaul flag stops nearby proxy and node before they start, naming it', async (t) => {
  const credential = await makeClusterCredential();
  t.after(() => credential.close());
  const nats = ['--nats', 'nats://127.0.0.1:4222'];
  const cases: [string[], RegExp][] = [
    [['node', ...nats, '--backhaul-ca', credential.caFile], /--backhaul-ca needs --backhaul-listen ADDR/],
    [
      ['proxy', ...nats, '--backhaul-listen', '0.0.0.0:4443', '--backhaul-cert', credential.certFile],
      /--backhaul-listen needs --backhaul-cert FILE and --backhaul-ca FILE/,
    ],
    [
      ['proxy', ...nats, '--backhaul-listen', '0.0.0.0:4443'].concat([
        '--backhaul-cert',
        credential.certFile,
        '--backhaul-ca',
        credential.caFile,
      ]),
      /give --backhaul-advertise HOST:PORT/,
    ],
    [
      ['node', ...nats, '--backhaul-listen', '10.0.0.2:4443'].concat([
        '--backhaul-cert',
        credential.caFile,
        '--backhaul-ca',
        credential.caFile,
      ]),
      /holds no private key; give it with --backhaul-key FILE/,
    ],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await nearby(args);
    assert.equal(code, 2, stderr);
    assert.match(stderr, message);
    assert.match(stderr, new RegExp(`^Hint: see \`nearby ${args[0]} --help\``, 'm'));
    noStack(stderr);
  }
});

/** GET /.nearby/ping on a backhaul, presenting `credential` (none: no client certificate). */
function ping(port: number, ca: string, credential?: TestCredential): Promise<string> {
  return new Promise((resolve, reject) => {
    const pem = credential ? readFileSync(credential.certFile, 'utf8') : undefined;
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        path: '/.nearby/ping',
        ca: readFileSync(ca, 'utf8'),
        ...(pem ? { cert: pem, key: pem } : {}),
        checkServerIdentity: () => undefined,
        agent: false,
      },
      (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve(`${response.statusCode} ${body.trim()}`));
      },
    );
    outgoing.setTimeout(10_000, () => outgoing.destroy(new Error('no answer within 10 s')));
    outgoing.on('error', reject);
    outgoing.end();
  });
}

test('nearby proxy --backhaul-*: publishes its record under --host-name and serves only the cluster', async (t) => {
  // Undone in reverse: the proxy stops and `host clean` stops its HAProxy before its data dir goes.
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const nats = await startNatsCluster();
  cleanups.push(() => nats.stop());
  const cluster = await makeClusterCredential();
  const stranger = await makeClusterCredential('not the cluster');
  cleanups.push(
    () => cluster.close(),
    () => stranger.close(),
  );
  const dataDir = await mkdtemp(join(tmpdir(), 'nearby-entrypoint-backhaul-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  // Opened first: the store's buckets are made once, before the proxy connects.
  const store = await openStore({ nats: nats.urls });
  cleanups.push(() => store.close());
  const backhaulPort = await freePort();
  const args = ['proxy', '--nats', nats.urls.join(','), '--data-dir', dataDir]
    .concat(['--host-name', 'edge-1', '--region', 'fra', '--log-format', 'json', '--metrics-listen', 'off'])
    .concat(['--proxy-listen', `127.0.0.1:${await freePort()}`])
    .concat(['--proxy-tls-listen', `127.0.0.1:${await freePort()}`])
    .concat(['--backhaul-listen', `127.0.0.1:${backhaulPort}`])
    // The certificate and its key apart: the proxy is given them joined.
    .concat(['--backhaul-cert', cluster.caFile, '--backhaul-key', cluster.keyFile])
    .concat(['--backhaul-ca', cluster.caFile]);
  const proxy = spawn(nearbyBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  proxy.stderr.on('data', (chunk) => {
    output = (output + chunk).slice(-20_000);
  });
  const exited = new Promise((resolve) => proxy.once('exit', resolve));
  cleanups.push(async () => {
    if (proxy.exitCode === null) proxy.kill('SIGTERM');
    await exited;
    // HAProxy outlives nearby by design: `host clean` stops it.
    await new Promise((resolve) =>
      execFile(nearbyBin, ['host', 'clean', '--data-dir', dataDir, '--purge'], { timeout: 60_000 }, resolve),
    );
  });

  const record = await eventually(
    async () => {
      if (proxy.exitCode !== null) throw new Error(`nearby proxy exited with ${proxy.exitCode}:\n${output}`);
      return (await store.get<ProxyRecord>('proxies/edge-1'))?.value;
    },
    60_000,
    `proxies/edge-1 in the store (${output.slice(-2000)})`,
  );
  assert.equal(record.region, 'fra');
  assert.equal(record.backhaul, `127.0.0.1:${backhaulPort}`);

  assert.equal(await ping(backhaulPort, cluster.caFile, cluster), '200 pong');
  await assert.rejects(ping(backhaulPort, cluster.caFile), 'no client certificate: refused in the handshake');
  await assert.rejects(ping(backhaulPort, cluster.caFile, stranger), 'a certificate of another CA: refused');
});
