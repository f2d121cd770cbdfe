import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { busyboxImage } from '../../test/helpers/images.ts';
import { startRegistry } from '../../test/helpers/registry.ts';
import { isNearbyError } from '../errors.ts';
import { parseChallenge } from './auth.ts';
import { ImageStore } from './image-store.ts';

const TOKEN = 'token-for-ci';

/**
 * A Bearer-token gate in front of a real docker-registry, shaped like Docker Hub and GHCR: /v2/
 * without a token answers 401 with a challenge naming the realm; the realm gives a token for
 * user ci:secret only; requests with the token are forwarded to the registry.
 */
async function tokenGate(t: TestContext, upstream: string) {
  const tokenRequests: URLSearchParams[] = [];
  const server = createServer(async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://gate');
    if (url.pathname === '/token') {
      tokenRequests.push(url.searchParams);
      const expected = `Basic ${Buffer.from('ci:secret').toString('base64')}`;
      if (request.headers.authorization !== expected) {
        response
          .writeHead(401, { 'content-type': 'application/json' })
          .end('{"details":"incorrect username or password"}');
        return;
      }
      response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
      return;
    }
    if (request.headers.authorization !== `Bearer ${TOKEN}`) {
      const { port } = server.address() as { port: number };
      response
        .writeHead(401, {
          'www-authenticate': `Bearer realm="http://127.0.0.1:${port}/token",service="gate.test",scope="repository:busybox:pull"`,
          'content-type': 'application/json',
        })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const forwarded = await fetch(`http://${upstream}${url.pathname}${url.search}`, {
      method: request.method,
      headers: { accept: request.headers.accept ?? '*/*' },
    });
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'content-length', 'docker-content-digest']) {
      const value = forwarded.headers.get(name);
      if (value) headers[name] = value;
    }
    response.writeHead(forwarded.status, headers).end(Buffer.from(await forwarded.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return { url: `127.0.0.1:${(server.address() as { port: number }).port}`, tokenRequests };
}

async function cacheDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-auth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('parses Bearer challenges as Docker Hub and GHCR send them', () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/hello:pull"',
    ),
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/hello:pull',
      },
    },
  );
  assert.deepEqual(parseChallenge('Basic realm="Registry Realm"'), {
    scheme: 'basic',
    params: { realm: 'Registry Realm' },
  });
  assert.equal(parseChallenge(null), undefined);
});

test('pulls through a Bearer token challenge with Basic credentials to the token realm', async (t) => {
  const registry = await startRegistry(t);
  await busyboxImage(registry.url);
  const gate = await tokenGate(t, registry.url);
  const store = new ImageStore({
    dir: await cacheDir(t),
    credentials: (host) => (host === gate.url ? { username: 'ci', password: 'secret' } : undefined),
  });
  const pulled = await store.pull(`${gate.url}/busybox:1`);
  assert.deepEqual(await readFile(join(pulled.rootfs, 'bin/busybox')), await readFile('/bin/busybox'));
  assert.ok(gate.tokenRequests.length >= 1);
  assert.equal(gate.tokenRequests[0].get('service'), 'gate.test');
  assert.equal(gate.tokenRequests[0].get('scope'), 'repository:busybox:pull');
  assert.equal(gate.tokenRequests.length, 1, 'the token is reused for the manifest and the blobs');
});

test('a token service that refuses us is REGISTRY_AUTH_FAILED', async (t) => {
  const registry = await startRegistry(t);
  await busyboxImage(registry.url);
  const gate = await tokenGate(t, registry.url);
  const anonymous = new ImageStore({ dir: await cacheDir(t) });
  await assert.rejects(anonymous.pull(`${gate.url}/busybox:1`), (error) => {
    assert.ok(isNearbyError(error, 'REGISTRY_AUTH_FAILED'));
    assert.match(error.message, /401.*anonymous/);
    return true;
  });
  const wrong = new ImageStore({
    dir: await cacheDir(t),
    credentials: () => ({ username: 'ci', password: 'nope' }),
  });
  await assert.rejects(wrong.resolve(`${gate.url}/busybox:1`), (error) =>
    isNearbyError(error, 'REGISTRY_AUTH_FAILED'),
  );
});
