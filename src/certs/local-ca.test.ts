/** The local CA signs certificates clients can verify against it; renewal comes at a third of the lifetime left. */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { localCaPaths, openLocalCa } from './local-ca.ts';
import { certFacts, normalizeHostname, renewAt, splitPem } from './pem.ts';

test('the local CA is made once and signs a leaf for the host name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await openLocalCa(dir);
  const again = await openLocalCa(dir);
  assert.equal(again.certPem, ca.certPem, 'opening it again keeps the same CA');
  assert.equal((await readFile(localCaPaths(dir).key, 'utf8')).includes('PRIVATE KEY'), true);

  const issued = await ca.issue('hello.localhost');
  const [leafPem] = splitPem(issued.certPem);
  const leaf = new X509Certificate(leafPem);
  const authority = new X509Certificate(ca.certPem);
  assert.ok(leaf.verify(authority.publicKey), 'signed by the CA');
  assert.ok(leaf.checkIssued(authority));
  assert.equal(leaf.checkHost('hello.localhost'), 'hello.localhost');
  assert.equal(leaf.checkHost('other.localhost'), undefined);
  assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.keyPem)));
  assert.equal(leaf.ca, false);
  const facts = certFacts(issued.certPem);
  const days = (facts.notAfter.getTime() - facts.notBefore.getTime()) / 86400_000;
  assert.ok(days > 89 && days < 91, `90 days, got ${days}`);
});

test('renewal is due when a third of the lifetime is left; host names are checked', () => {
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date('2026-04-01T00:00:00Z'); // 90 days
  assert.equal(renewAt({ notBefore, notAfter }).toISOString(), '2026-03-02T00:00:00.000Z');
  assert.equal(normalizeHostname('WWW.Example.com.'), 'www.example.com');
  for (const bad of ['*.example.com', 'localhost', 'a..b', 'under_score.example.com', '']) {
    assert.throws(() => normalizeHostname(bad), { code: 'CERT_HOSTNAME_INVALID' });
  }
});
