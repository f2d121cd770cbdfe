/** The ACME client and HTTP-01 responder against a real pebble (Debian's ACME test server). */
import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import pino from 'pino';
import { startPebble } from '../../test/helpers/pebble.ts';
import { openStore } from '../store/mod.ts';
import { issueWithAcme } from './acme-issue.ts';
import { startChallengeResponder } from './challenge-responder.ts';
import { certFacts } from './pem.ts';

test('a certificate from pebble through HTTP-01, and a clear error when validation fails', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-acme-'));
  const store = openStore(dir);
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const responder = await startChallengeResponder(store, pino({ level: 'silent' }));
  t.after(() => responder.close());
  const pebble = await startPebble(t, { httpPort: responder.port, resolvable: ['www.example.com'] });
  setDefaultCACertificates([...getCACertificates('default'), pebble.caPem]);

  const issued = await issueWithAcme({
    store,
    directoryUrl: pebble.directoryUrl,
    hostname: 'www.example.com',
  });
  const facts = certFacts(issued.certPem);
  assert.deepEqual(facts.names, ['www.example.com']);
  assert.ok(facts.notAfter.getTime() > Date.now());
  assert.ok(new X509Certificate(issued.certPem).checkPrivateKey(createPrivateKey(issued.keyPem)));
  assert.ok((await store.list('acme-challenges/')).length === 0, 'challenge answers are removed afterwards');
  assert.equal((await store.list('acme-accounts/')).length, 1);

  // The same account is reused; a name whose DNS does not lead here fails validation, with the reason.
  await assert.rejects(
    issueWithAcme({ store, directoryUrl: pebble.directoryUrl, hostname: 'nowhere.example.com' }),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, 'ACME_CHALLENGE_FAILED');
      assert.match(error.message, /nowhere\.example\.com/);
      return true;
    },
  );
  assert.equal((await store.list('acme-accounts/')).length, 1);
});
