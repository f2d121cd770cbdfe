import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { busyboxImage, HELLO_BINARY, helloImage } from '../../test/helpers/images.ts';
import { freePort, startRegistry } from '../../test/helpers/registry.ts';
import { isNearbyError } from '../errors.ts';
import { buildImage, buildIndex, sha256 } from './build.ts';
import { ImageStore } from './image-store.ts';
import { MEDIA } from './manifest.ts';
import type { PullTotals } from './pull-progress.ts';
import { pushImage, pushIndex } from './push.ts';

async function cacheDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-images-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A fetch that records the URLs of blob downloads, to see what the store fetched. */
function countingFetch() {
  const blobGets: string[] = [];
  const counting: typeof fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if ((init?.method ?? 'GET') === 'GET' && url.includes('/blobs/')) blobGets.push(url);
    return fetch(input, init);
  };
  return { fetch: counting, blobGets };
}

test('pulls and unpacks an image from a real registry, anonymously, then reuses the cache', async (t) => {
  const registry = await startRegistry(t);
  const reference = await busyboxImage(registry.url);
  const dir = await cacheDir(t);
  const counter = countingFetch();
  const progress: number[] = [];
  const store = new ImageStore({ dir, fetch: counter.fetch });
  const totals: PullTotals[] = [];
  const pulled = await store.pull(reference, {
    onProgress: (p) => progress.push(p.bytes),
    onTotals: (sum) => totals.push(sum),
  });

  assert.deepEqual(
    { ...pulled.ref, digest: undefined },
    {
      registry: registry.url,
      repository: 'busybox',
      tag: '1',
      digest: undefined,
    },
  );
  assert.match(pulled.ref.digest, /^sha256:[a-f0-9]{64}$/);
  assert.deepEqual(pulled.config.Cmd, ['/bin/sh']);
  assert.ok(pulled.size > 500_000, 'size counts the compressed layer');
  assert.ok(isAbsolute(pulled.rootfs));
  assert.equal(pulled.rootfs, join(dir, 'rootfs', pulled.ref.digest.slice('sha256:'.length)));
  assert.deepEqual(await readFile(join(pulled.rootfs, 'bin/busybox')), await readFile('/bin/busybox'));
  assert.equal((await stat(join(pulled.rootfs, 'bin/busybox'))).mode & 0o777, 0o755);
  assert.equal((await stat(join(pulled.rootfs, 'home/app'))).uid, 1000);
  assert.ok(progress.length > 0 && progress.at(-1)! >= pulled.size - 1000);
  assert.equal(counter.blobGets.length, 2, 'one layer and the config');
  assert.deepEqual(totals[0], { done_bytes: 0, total_bytes: pulled.size, layers_done: 0, layers_total: 1 });
  assert.deepEqual(totals.at(-1), {
    done_bytes: pulled.size,
    total_bytes: pulled.size,
    layers_done: 1,
    layers_total: 1,
  });
  assert.ok(
    totals.some((sum) => sum.done_bytes > 0 && sum.done_bytes < pulled.size),
    'bytes are counted as they arrive',
  );
  assert.equal((await readdir(join(dir, 'blobs', 'sha256'))).length, 2);

  const again = new ImageStore({ dir, fetch: counter.fetch });
  const cachedTotals: PullTotals[] = [];
  const second = await again.pull(`${registry.url}/busybox@${pulled.ref.digest}`, {
    onTotals: (sum) => cachedTotals.push(sum),
  });
  assert.deepEqual(cachedTotals, [
    { done_bytes: pulled.size, total_bytes: pulled.size, layers_done: 1, layers_total: 1 },
  ]);
  assert.equal(second.rootfs, pulled.rootfs);
  assert.equal(second.ref.tag, '');
  assert.equal(counter.blobGets.length, 2, 'nothing downloaded again');
  const resolved = await again.resolve(reference);
  assert.equal(resolved.ref.digest, pulled.ref.digest);
});

test('concurrent pulls of one image share one download and one unpack', async (t) => {
  const registry = await startRegistry(t);
  const reference = await busyboxImage(registry.url, 'shared', 'v1');
  const counter = countingFetch();
  const store = new ImageStore({ dir: await cacheDir(t), fetch: counter.fetch });
  const results = await Promise.all([store.pull(reference), store.pull(reference), store.pull(reference)]);
  assert.equal(new Set(results.map((result) => result.rootfs)).size, 1);
  assert.equal(counter.blobGets.length, 2, 'the layer and the config were each fetched once');
  assert.deepEqual(await readdir(join(store.dir, 'rootfs')), [results[0].rootfs.split('/').at(-1)]);
});

test('picks linux/amd64 (or the asked platform) from an image index', async (t) => {
  const registry = await startRegistry(t);
  const images = await Promise.all(
    ['amd64', 'arm64'].map((architecture) =>
      buildImage({
        architecture,
        layers: [[{ path: 'arch', type: 'file', content: architecture }]],
        config: { Cmd: [`/${architecture}`] },
      }),
    ),
  );
  const indexDigest = await pushIndex(registry.url, 'multi', 'latest', buildIndex(images));
  const dir = await cacheDir(t);
  const amd64 = await new ImageStore({ dir, platform: { architecture: 'amd64', os: 'linux' } }).pull(
    `${registry.url}/multi`,
  );
  assert.equal(await readFile(join(amd64.rootfs, 'arch'), 'utf8'), 'amd64');
  assert.deepEqual(amd64.config.Cmd, ['/amd64']);
  assert.equal(amd64.ref.digest, indexDigest, 'the digest the tag points at');
  const arm64 = await new ImageStore({ dir, platform: { architecture: 'arm64', os: 'linux' } }).pull(
    `${registry.url}/multi`,
  );
  assert.equal(await readFile(join(arm64.rootfs, 'arch'), 'utf8'), 'arm64');
  await assert.rejects(
    new ImageStore({ dir, platform: { architecture: 's390x', os: 'linux' } }).resolve(
      `${registry.url}/multi`,
    ),
    (error) => isNearbyError(error, 'IMAGE_MANIFEST_UNSUPPORTED') && error.message.includes('linux/arm64'),
  );
});

test('a missing repository or tag is IMAGE_NOT_FOUND with a message that says what to do', async (t) => {
  const registry = await startRegistry(t);
  await busyboxImage(registry.url, 'exists', '1');
  const store = new ImageStore({ dir: await cacheDir(t) });
  for (const reference of [`${registry.url}/nope:1`, `${registry.url}/exists:2`]) {
    await assert.rejects(store.pull(reference), (error) => {
      assert.ok(isNearbyError(error, 'IMAGE_NOT_FOUND'));
      assert.equal(error.status, 422);
      assert.equal(
        error.message,
        `image ${reference} not found: the registry has no such repository or tag; check the name, or push it first`,
      );
      return true;
    });
  }
});

test('an unreachable registry is REGISTRY_UNREACHABLE naming the address and the socket error', async (t) => {
  const port = await freePort();
  const store = new ImageStore({ dir: await cacheDir(t) });
  await assert.rejects(store.pull(`127.0.0.1:${port}/hello:1`), (error) => {
    assert.ok(isNearbyError(error, 'REGISTRY_UNREACHABLE'));
    assert.equal(error.status, 502);
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
    return true;
  });
});

test('a blob corrupted in the registry storage is caught as IMAGE_DIGEST_MISMATCH and not cached', async (t) => {
  const registry = await startRegistry(t);
  const image = await buildImage({
    layers: [[{ path: 'data', type: 'file', content: randomBytes(50_000) }]],
    config: {},
  });
  await pushImage(registry.url, 'corrupt', '1', image);
  const layer = image.layers[0];
  const hex = layer.digest.slice('sha256:'.length);
  const stored = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
  await writeFile(stored, randomBytes(layer.size));
  const store = new ImageStore({ dir: await cacheDir(t) });
  await assert.rejects(store.pull(`${registry.url}/corrupt:1`), (error) => {
    assert.ok(isNearbyError(error, 'IMAGE_DIGEST_MISMATCH'));
    assert.ok(error.message.includes(layer.digest));
    return true;
  });
  assert.equal(await store.blobs.has(layer.digest), false);
  await assert.rejects(lstat(join(store.dir, 'rootfs', image.manifestDigest.slice(7))), { code: 'ENOENT' });
  assert.deepEqual(await readdir(join(store.dir, 'tmp')), [], 'no temp file left');
});

test('a plain-HTTP registry that is neither loopback nor listed as insecure is refused', async (t) => {
  const registry = await startRegistry(t);
  await busyboxImage(registry.url, 'remote', '1');
  const name = `registry.example.test:${registry.port}`;
  // Resolves the made-up name to the local registry, so the store believes it is a remote host.
  const viaName: typeof fetch = (input, init) => fetch(String(input).replace(name, registry.url), init);
  const strict = new ImageStore({ dir: await cacheDir(t), fetch: viaName });
  await assert.rejects(strict.resolve(`${name}/remote:1`), (error) =>
    isNearbyError(error, 'REGISTRY_INSECURE'),
  );
  const lenient = new ImageStore({ dir: await cacheDir(t), fetch: viaName, insecureRegistries: [name] });
  const resolved = await lenient.resolve(`${name}/remote:1`);
  assert.equal(resolved.ref.registry, name);
});

test('a hostile layer pulled from a registry is refused by the unpack worker, leaving no rootfs', async (t) => {
  const registry = await startRegistry(t);
  const image = await buildImage({
    compression: 'zstd',
    layers: [
      [{ path: 'ok', type: 'file', content: 'fine' }],
      [
        { path: 'link', type: 'symlink', target: '../../..' },
        { path: 'link/escaped', type: 'file', content: 'escaped' },
      ],
    ],
    config: {},
  });
  await pushImage(registry.url, 'hostile', '1', image);
  const store = new ImageStore({ dir: await cacheDir(t) });
  await assert.rejects(store.pull(`${registry.url}/hostile:1`), (error) => {
    assert.ok(isNearbyError(error, 'IMAGE_LAYER_UNSAFE'));
    assert.ok(error.message.includes(image.layers[1].digest) && error.message.includes('link/escaped'));
    return true;
  });
  assert.deepEqual(await readdir(join(store.dir, 'rootfs')), [], 'neither a rootfs nor a temp dir is left');
  await assert.rejects(lstat(join(tmpdir(), 'escaped')), { code: 'ENOENT' });
});

test('an aborted pull stops with the abort reason', async (t) => {
  const registry = await startRegistry(t);
  const reference = await busyboxImage(registry.url);
  const store = new ImageStore({ dir: await cacheDir(t) });
  const controller = new AbortController();
  controller.abort(new Error('machine destroyed'));
  await assert.rejects(store.pull(reference, { signal: controller.signal }), /machine destroyed|aborted/);
});

test('the hello test image pulls with its entrypoint, busybox applets and users', async (t) => {
  if (
    !(await lstat(HELLO_BINARY).then(
      () => true,
      () => false,
    ))
  ) {
    t.skip('native/build/hello is not built (scripts/build-native.sh)');
    return;
  }
  const registry = await startRegistry(t);
  const reference = await helloImage(registry.url);
  assert.equal(reference, `${registry.url}/hello:1`);
  const pulled = await new ImageStore({ dir: await cacheDir(t) }).pull(reference);
  assert.deepEqual(pulled.config.Entrypoint, ['/hello']);
  assert.deepEqual(pulled.config.ExposedPorts, { '8080/tcp': {} });
  assert.equal((await stat(join(pulled.rootfs, 'hello'))).mode & 0o777, 0o755);
  assert.equal(await readlink(join(pulled.rootfs, 'bin/sh')), 'busybox');
  assert.match(await readFile(join(pulled.rootfs, 'etc/passwd'), 'utf8'), /^app:x:1000:1000:/m);
  assert.equal((await stat(join(pulled.rootfs, 'tmp'))).mode & 0o7777, 0o1777);
});

test('accepts Docker schema 2 manifests as Docker pushes them', async (t) => {
  const registry = await startRegistry(t);
  const image = await buildImage({
    layers: [[{ path: 'from-docker', type: 'file', content: 'yes' }]],
    config: { User: 'app' },
  });
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.dockerManifest,
      config: { mediaType: MEDIA.dockerConfig, digest: image.configDigest, size: image.config.length },
      layers: image.layers.map((layer) => ({
        mediaType: MEDIA.dockerLayerGzip,
        digest: layer.digest,
        size: layer.size,
      })),
    }),
  );
  const docker = { ...image, mediaType: MEDIA.dockerManifest, manifest, manifestDigest: sha256(manifest) };
  await pushImage(registry.url, 'docker-style', 'v1', docker);
  const pulled = await new ImageStore({ dir: await cacheDir(t) }).pull(`${registry.url}/docker-style:v1`);
  assert.equal(pulled.ref.digest, docker.manifestDigest);
  assert.equal(pulled.config.User, 'app');
  assert.equal(await readFile(join(pulled.rootfs, 'from-docker'), 'utf8'), 'yes');
});

test('a half-built rootfs left by a crash is never taken for an image, and is swept later', async (t) => {
  const registry = await startRegistry(t);
  const reference = await busyboxImage(registry.url);
  const dir = await cacheDir(t);
  const stale = join(dir, 'rootfs', '.tmp-0123456789abcdef-dead00');
  await mkdir(join(stale, 'bin'), { recursive: true });
  const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
  await utimes(stale, old, old);
  const pulled = await new ImageStore({ dir }).pull(reference);
  assert.deepEqual(await readdir(join(dir, 'rootfs')), [pulled.rootfs.split('/').at(-1)]);
});
