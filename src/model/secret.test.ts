import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { loadSecretKey, SecretBox, secretAad, secretKeyFile } from './secret.ts';

test('secrets are sealed with a key made once per data dir, and opened only for their own app and name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-secret-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = loadSecretKey(dir);
  assert.deepEqual(loadSecretKey(dir), key, 'the same key on the next start');
  assert.equal((await stat(secretKeyFile(dir))).mode & 0o777, 0o600);
  const box = new SecretBox(key);
  const sealed = box.seal('hunter2', secretAad('web', 'PASSWORD'));
  assert.doesNotMatch(Buffer.from(sealed, 'base64').toString('latin1'), /hunter2/);
  assert.notEqual(box.seal('hunter2', secretAad('web', 'PASSWORD')), sealed, 'a fresh IV each time');
  assert.equal(box.open(sealed, secretAad('web', 'PASSWORD')), 'hunter2');
  assert.throws(
    () => box.open(sealed, secretAad('other-app', 'PASSWORD')),
    (error) => isNearbyError(error, 'SECRET_UNREADABLE'),
  );
  assert.equal(box.digest('hunter2'), box.digest('hunter2'));
  assert.notEqual(
    new SecretBox(Buffer.alloc(32, 1)).digest('hunter2'),
    box.digest('hunter2'),
    'digests are keyed',
  );
  assert.match(await readFile(secretKeyFile(dir), 'utf8'), /^[A-Za-z0-9+/=]+\n$/);
});
