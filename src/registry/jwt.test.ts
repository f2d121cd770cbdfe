import assert from 'node:assert/strict';
import { verify, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { signRegistryToken } from './jwt.ts';
import { openSigningKey } from './signing-key.ts';

test('registry tokens are ES256 JWTs verifiable with the x5c certificate, and the key is kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-registry-jwt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = await openSigningKey(dir);
  const access = [{ type: 'repository', name: 'shop', actions: ['pull'] }];
  const now = Date.UTC(2026, 0, 1);
  const jwt = signRegistryToken(
    key,
    { issuer: 'nearby', service: 'nearby-registry', subject: 'deploy:1', access, ttlSeconds: 300 },
    now,
  );
  const [header, payload, signature] = jwt.split('.');
  const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  const head = decode(header);
  assert.equal(head.alg, 'ES256');
  const cert = new X509Certificate(Buffer.from(head.x5c[0], 'base64'));
  const valid = verify(
    'sha256',
    Buffer.from(`${header}.${payload}`),
    { key: cert.publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(signature, 'base64url'),
  );
  assert.ok(valid, 'the signature verifies with the certificate in x5c');
  const claims = decode(payload);
  assert.equal(claims.iss, 'nearby');
  assert.equal(claims.aud, 'nearby-registry');
  assert.equal(claims.exp - claims.iat, 300);
  assert.deepEqual(claims.access, access);

  const reopened = await openSigningKey(dir);
  assert.deepEqual(reopened.certDer, key.certDer, 'a restart keeps the same key and certificate');
});
