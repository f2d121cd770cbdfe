import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { formatReference, isLoopbackRegistry, parseReference } from './reference.ts';

const digest = `sha256:${'a'.repeat(64)}`;

test('parses references the way Docker does', () => {
  assert.deepEqual(parseReference('127.0.0.1:5000/hello:1'), {
    registry: '127.0.0.1:5000',
    repository: 'hello',
    tag: '1',
    digest: '',
  });
  assert.deepEqual(parseReference('hello'), {
    registry: 'registry-1.docker.io',
    repository: 'library/hello',
    tag: 'latest',
    digest: '',
  });
  assert.deepEqual(parseReference('docker.io/team/app:v2'), {
    registry: 'registry-1.docker.io',
    repository: 'team/app',
    tag: 'v2',
    digest: '',
  });
  assert.deepEqual(parseReference(`ghcr.io/a/b@${digest}`), {
    registry: 'ghcr.io',
    repository: 'a/b',
    tag: '',
    digest,
  });
  assert.deepEqual(parseReference(`localhost:5000/a/b-c_d.e:1.0@${digest}`), {
    registry: 'localhost:5000',
    repository: 'a/b-c_d.e',
    tag: '1.0',
    digest,
  });
  assert.deepEqual(parseReference('localhost/app').registry, 'localhost');
  assert.equal(parseReference('[::1]:5000/app:x').registry, '[::1]:5000');
});

test('formats a parsed reference back', () => {
  assert.equal(formatReference(parseReference('hello')), 'registry-1.docker.io/library/hello:latest');
  assert.equal(formatReference(parseReference(`ghcr.io/a/b@${digest}`)), `ghcr.io/a/b@${digest}`);
});

test('refuses bad references with IMAGE_REF_INVALID (422)', () => {
  for (const bad of [
    '',
    'Hello',
    'a//b',
    'app:',
    'app@sha256:abc',
    'app:bad tag',
    'host:5000/',
    '-app',
    'a/b:c:d',
  ]) {
    assert.throws(
      () => parseReference(bad),
      (error) =>
        isNearbyError(error, 'IMAGE_REF_INVALID') &&
        error.status === 422 &&
        error.message.includes('invalid'),
      `expected "${bad}" to be refused`,
    );
  }
});

test('knows loopback registries', () => {
  assert.equal(isLoopbackRegistry('127.0.0.1:5000'), true);
  assert.equal(isLoopbackRegistry('127.8.9.10'), true);
  assert.equal(isLoopbackRegistry('localhost:5000'), true);
  assert.equal(isLoopbackRegistry('[::1]:5000'), true);
  assert.equal(isLoopbackRegistry('10.0.0.1:5000'), false);
  assert.equal(isLoopbackRegistry('ghcr.io'), false);
});
