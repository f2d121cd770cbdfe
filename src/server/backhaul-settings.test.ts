/**
 * The proxy's `--backhaul-*` flags as an operator gives them: off unless asked for, the
 * credential checked before anything starts, each mistake named by its flag with what to give.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeClusterCredential, type TestCredential } from '../../test/helpers/proxy-cluster.ts';
import { parse } from '../cli/command.ts';
import { agentPart, nodePart, proxyPart } from '../cli/commands/parts.ts';
import { backhaulCredentialFile, readBackhaul } from './backhaul-settings.ts';
import { readSettings } from './settings.ts';

const nats = 'nats://10.0.0.1:4222';

async function credentials(t: { after(fn: () => void): void }) {
  const cluster = await makeClusterCredential();
  const stranger = await makeClusterCredential('not the cluster');
  t.after(() => {
    cluster.close();
    stranger.close();
  });
  return { cluster, stranger };
}

const flags = (credential: TestCredential, more: Record<string, string> = {}) => ({
  nats,
  'host-name': 'fra-1',
  'backhaul-listen': '10.0.0.2:4443',
  'backhaul-cert': credential.certFile,
  'backhaul-ca': credential.caFile,
  ...more,
});

test('the backhaul flags belong to the proxy: nearby proxy and node take them, the agent does not', () => {
  assert.doesNotThrow(() => parse(proxyPart, ['--backhaul-listen', '10.0.0.2:4443']));
  assert.doesNotThrow(() => parse(nodePart, ['--backhaul-ca', 'ca.pem']));
  assert.throws(() => parse(agentPart, ['--backhaul-listen', '10.0.0.2:4443']), { code: 'USAGE' });
  assert.equal(readSettings(['proxy'], { nats }, {}).backhaul, undefined, 'off unless asked for');
  assert.equal(readSettings(['proxy'], { nats, 'backhaul-listen': 'off' }, {}).backhaul, undefined);
});

test('a good credential, in one file or with the key apart, from flags or the environment', async (t) => {
  const { cluster } = await credentials(t);
  const settings = readSettings(['proxy'], flags(cluster), {});
  assert.deepEqual(settings.backhaul, {
    listen: '10.0.0.2:4443',
    advertise: '10.0.0.2:4443',
    certFile: cluster.certFile,
    caFile: cluster.caFile,
  });
  const apart = readSettings(
    ['agent', 'proxy'],
    { nats, 'host-name': 'fra-1', 'backhaul-listen': '0.0.0.0:4443', 'backhaul-advertise': '10.0.0.2:4443' },
    {
      NEARBY_BACKHAUL_CERT: cluster.caFile, // the certificate alone
      NEARBY_BACKHAUL_KEY: cluster.keyFile,
      NEARBY_BACKHAUL_CA: cluster.caFile,
    },
  );
  assert.equal(apart.backhaul?.listen, '0.0.0.0:4443');
  assert.equal(apart.backhaul?.advertise, '10.0.0.2:4443');
  assert.equal(apart.backhaul?.keyFile, cluster.keyFile);

  // The proxy is given one PEM with both, in the data dir, readable by nearby only.
  const dataDir = mkdtempSync(join(tmpdir(), 'nearby-backhaul-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const joined = await backhaulCredentialFile(apart.backhaul as NonNullable<typeof apart.backhaul>, dataDir);
  assert.equal(joined, join(dataDir, 'backhaul', 'credential.pem'));
  assert.equal(statSync(joined).mode & 0o777, 0o600);
  const text = readFileSync(joined, 'utf8');
  assert.ok(text.includes(readFileSync(cluster.caFile, 'utf8').trim()) && text.includes('PRIVATE KEY-----'));
  assert.equal(
    await backhaulCredentialFile(settings.backhaul as NonNullable<typeof settings.backhaul>, dataDir),
    cluster.certFile,
    'a certificate file holding its key is used as it is',
  );
});

test('each missing flag, bad address and wrong file is named with what to give instead', async (t) => {
  const { cluster, stranger } = await credentials(t);
  const dir = mkdtempSync(join(tmpdir(), 'nearby-backhaul-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');

  const cases: [Record<string, string>, RegExp][] = [
    [{ nats, 'backhaul-cert': cluster.certFile }, /--backhaul-cert needs --backhaul-listen ADDR/],
    [{ ...flags(cluster), nats: '' }, /--backhaul-listen: .* it needs --nats/],
    [{ nats, 'backhaul-listen': '10.0.0.2:4443' }, /needs --backhaul-cert FILE and --backhaul-ca FILE/],
    [flags(cluster, { 'backhaul-listen': '10.0.0.2' }), /--backhaul-listen: expected HOST:PORT/],
    [flags(cluster, { 'backhaul-listen': ':4443' }), /give --backhaul-advertise HOST:PORT/],
    [
      flags(cluster, { 'backhaul-listen': ':4443', 'backhaul-advertise': '0.0.0.0:4443' }),
      /--backhaul-advertise: '0\.0\.0\.0:4443' is not an address other hosts can reach/,
    ],
    [flags(cluster, { 'host-name': 'fra 1' }), /--host-name: 'fra 1' cannot name this proxy/],
    [flags(cluster, { 'backhaul-cert': join(dir, 'missing.pem') }), /--backhaul-cert: cannot read .*ENOENT/],
    [flags(cluster, { 'backhaul-cert': notPem }), /--backhaul-cert: .* holds no PEM certificate/],
    [flags(cluster, { 'backhaul-ca': notPem }), /--backhaul-ca: .* holds no PEM certificate/],
    [
      flags(cluster, { 'backhaul-cert': cluster.caFile }),
      /--backhaul-cert: .* holds no private key; give it with --backhaul-key FILE/,
    ],
    [
      flags(cluster, { 'backhaul-cert': cluster.caFile, 'backhaul-key': stranger.keyFile }),
      /--backhaul-key: the private key in .* is not the key of/,
    ],
    [
      flags(cluster, { 'backhaul-ca': stranger.caFile }),
      /--backhaul-cert: the certificate in .* was not issued by the CA in .*: the other proxies would refuse it/,
    ],
  ];
  for (const [values, message] of cases) {
    const given = Object.fromEntries(Object.entries(values).filter(([, value]) => value !== ''));
    assert.throws(
      () => readSettings(['proxy'], given, {}),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, 'USAGE', String(error));
        assert.match((error as Error).message, message);
        return true;
      },
    );
  }

  // The test credential lasts two days: a week on, it has expired.
  const get = (flag: string) => (flags(cluster) as Record<string, string>)[flag];
  assert.throws(
    () => readBackhaul(get, { nats: true, hostName: 'fra-1', now: Date.now() + 7 * 86_400_000 }),
    /--backhaul-cert: the certificate in .* expired on/,
  );
});
