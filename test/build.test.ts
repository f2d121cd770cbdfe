/**
 * Builds and nearby's own registry, end to end: `nearby launch --yes` in a directory with a
 * Dockerfile, `nearby deploy` builds it with buildah, pushes it to the server's docker-registry
 * child and deploys the digest, reachable through the proxy; registry tokens are scoped to apps;
 * the registry keeps its images across a server restart and comes back when killed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { buildImage } from '../src/oci/build.ts';
import { pushImage } from '../src/oci/push.ts';
import { RegistryClient } from '../src/oci/registry-client.ts';
import { HELLO_BINARY, helloBinaryLayer } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';

const run = promisify(execFile);
const MANIFEST_ACCEPT =
  'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

describe('builds with buildah, and the registry with token auth', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let registryHost: string;
  let workDir: string;
  let builtReference: string;
  const cleanups: (() => unknown)[] = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    nearby = await startNearby({ after: (fn) => cleanups.push(fn) });
    workDir = await mkdtemp(join(tmpdir(), 'nearby-build-test-'));
    cleanups.push(() => rm(workDir, { recursive: true, force: true }));
    const registry = await nearby.api<{ host: string }>('GET', '/v1/registry');
    assert.equal(registry.status, 200);
    registryHost = registry.body.host;
    await helloBinaryLayer(); // builds native/build/hello when missing
  });

  /** `curl http://<app>.localhost:<proxy port><path>`, as a user reaches the app. */
  const curl = async (app: string, path: string) => {
    const host = `${app}.localhost:${nearby.proxyPort}`;
    const { stdout } = await run('curl', [
      '-sf',
      '--max-time',
      '10',
      '--resolve',
      `${host}:127.0.0.1`,
      `http://${host}${path}`,
    ]);
    return stdout;
  };

  /** A registry token for `scope`, asked with HTTP Basic `x:<secret>`. */
  const registryToken = async (secret: string, scope: string) => {
    const url = `${nearby.apiUrl}/v1/registry/token?service=nearby-registry&scope=${encodeURIComponent(scope)}`;
    const response = await fetch(url, {
      headers: { authorization: `Basic ${Buffer.from(`x:${secret}`).toString('base64')}` },
    });
    return { status: response.status, body: (await response.json()) as { token?: string; code?: string } };
  };
  const claims = (jwt: string) =>
    JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as {
      access: { name: string; actions: string[] }[];
    };
  const deployToken = async (app: string) => {
    const made = await nearby.api<{ token: string }>('POST', `/v1/apps/${app}/deploy_token`, {});
    assert.equal(made.status, 201);
    return made.body.token;
  };

  test('launch --yes and deploy build the Dockerfile, push it, and serve it through the proxy', async () => {
    const dir = join(workDir, 'shop');
    await mkdir(dir);
    await copyFile(HELLO_BINARY, join(dir, 'hello'));
    await writeFile(join(dir, 'public.txt'), 'shipped\n');
    await writeFile(join(dir, 'secret.txt'), 'never in the image\n');
    await writeFile(join(dir, '.dockerignore'), 'secret.txt\n');
    await writeFile(
      join(dir, 'Dockerfile'),
      [
        'FROM scratch',
        'ARG GREETING=unset',
        'ENV GREETING=$GREETING',
        'COPY hello /hello',
        'COPY *.txt /files/',
        'EXPOSE 8080',
        'CMD ["/hello"]',
        '',
      ].join('\n'),
    );

    const launched = await nearby.cli(['launch', '--yes', '--name', 'shop'], { cwd: dir });
    assert.equal(launched.code, 0, launched.stderr);
    assert.match(launched.stdout, /Created app shop/);
    assert.match(launched.stdout, /listens on port 8080/);
    const config = await readFile(join(dir, 'nearby.toml'), 'utf8');
    assert.match(config, /dockerfile = "Dockerfile"/);
    assert.match(config, /internal_port = 8080/);
    await writeFile(join(dir, 'nearby.toml'), `${config}\n[build.args]\n  GREETING = "built-with-args"\n`);

    const deployed = await nearby.cli(['deploy', '--no-ha'], { cwd: dir });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    assert.match(deployed.stdout, /STEP 1\/7: FROM scratch/);
    assert.match(deployed.stdout, new RegExp(`Pushing ${registryHost}/shop:deployment-\\d{14}`));
    assert.match(deployed.stdout, /Pushed 2 layers, [\d.]+ [kM]B/);

    const machines = await nearby.api<{ config: { image: string } }[]>('GET', '/v1/apps/shop/machines');
    assert.equal(machines.body.length, 1);
    builtReference = machines.body[0].config.image;
    assert.match(builtReference, new RegExp(`^${registryHost}/shop:deployment-\\d{14}@sha256:[0-9a-f]{64}$`));

    const hello = await eventually(() => curl('shop', '/').catch(() => undefined));
    assert.match(hello, /^hello from [0-9a-f]{14}/);
    assert.match(await curl('shop', '/env'), /GREETING=built-with-args/);

    // .dockerignore kept secret.txt out of the build context, so out of every layer.
    const shopToken = await deployToken('shop');
    const files = await imageFiles(registryHost, 'shop', builtReference.split('@')[1], shopToken);
    assert.ok(files.includes('files/public.txt'), files.join(' '));
    assert.ok(!files.some((name) => name.includes('secret.txt')), files.join(' '));
  });

  test("a token for one app cannot pull or push another app's repository", async () => {
    assert.ok(builtReference, 'needs the build of the first test');
    const created = await nearby.api('POST', '/v1/apps', { app_name: 'other' });
    assert.equal(created.status, 201);
    const otherToken = await deployToken('other');
    const shopToken = await deployToken('shop');
    const digest = builtReference.split('@')[1];

    // The token service leaves out what the nearby token may not do…
    const denied = await registryToken(otherToken, 'repository:shop:pull,push');
    assert.equal(denied.status, 200);
    assert.deepEqual(claims(denied.body.token ?? '').access, []);
    const allowed = await registryToken(shopToken, 'repository:shop:pull,push');
    assert.deepEqual(claims(allowed.body.token ?? '').access, [
      { type: 'repository', name: 'shop', actions: ['pull', 'push'] },
    ]);
    // …so the registry refuses the pull, and serves it to the app's own token.
    const manifest = (token: string | undefined) =>
      fetch(`http://${registryHost}/v2/shop/manifests/${digest}`, {
        headers: { authorization: `Bearer ${token}`, accept: MANIFEST_ACCEPT },
      });
    assert.equal((await manifest(denied.body.token)).status, 401);
    assert.equal((await manifest(allowed.body.token)).status, 200);

    // Through a real client: pulls and pushes as `other` into shop's repository are refused.
    const asOther = new RegistryClient({ credentials: () => ({ username: 'x', password: otherToken }) });
    await assert.rejects(asOther.getManifest(registryHost, 'shop', digest, 'shop'), {
      code: 'REGISTRY_AUTH_FAILED',
    });
    const image = await buildImage({
      layers: [await helloBinaryLayer()],
      config: { Entrypoint: ['/hello'] },
    });
    await assert.rejects(pushImage(registryHost, 'shop', 'evil', image, { client: asOther }), {
      code: 'REGISTRY_AUTH_FAILED',
    });
    // Its own repositories (`other`, `other/…`) it may push to.
    await pushImage(registryHost, 'other/tools', '1', image, { client: asOther });

    // Nor can it make the control plane pull shop's image for it (it pulls with its own credential).
    const asOtherApi = (path: string, body?: unknown) =>
      fetch(`${nearby.apiUrl}${path}`, {
        method: body ? 'POST' : 'GET',
        headers: { authorization: `Bearer ${otherToken}`, 'content-type': 'application/json' },
        body: body ? JSON.stringify(body) : undefined,
      });
    const machine = await asOtherApi('/v1/apps/other/machines', { config: { image: builtReference } });
    assert.equal(machine.status, 403);
    assert.match(((await machine.json()) as { error: string }).error, /app shop's repository/);
    assert.equal((await asOtherApi(`/v1/images?ref=${encodeURIComponent(builtReference)}`)).status, 403);

    // No credentials, or a token that is not one, get no registry token at all.
    assert.equal((await registryToken('nb_not_a_token', 'repository:shop:pull')).status, 401);
    const anonymous = await fetch(`${nearby.apiUrl}/v1/registry/token?scope=repository:shop:pull`);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic/);
  });

  test('deploy says clearly when buildah is missing or the builder is not supported', async () => {
    const dir = join(workDir, 'errors');
    await mkdir(dir);
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
    await writeFile(join(dir, 'nearby.toml'), 'app = "shop"\n');
    // A PATH with only what bin/nearby itself needs: no buildah on it.
    const bin = join(workDir, 'bin');
    await mkdir(bin, { recursive: true });
    for (const tool of ['dirname', 'readlink'])
      await symlink(`/usr/bin/${tool}`, join(bin, tool)).catch(() => {});
    const saved = nearby.env.PATH;
    nearby.env.PATH = bin;
    const missing = await nearby.cli(['deploy'], { cwd: dir }).finally(() => {
      nearby.env.PATH = saved;
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /needs buildah, which is not installed here/);
    assert.doesNotMatch(missing.stderr, /at .*\.ts:\d+/);

    await writeFile(
      join(dir, 'nearby.toml'),
      'app = "shop"\n[build]\n  builder = "paketobuildpacks/builder:base"\n',
    );
    const builder = await nearby.cli(['deploy'], { cwd: dir });
    assert.equal(builder.code, 1);
    assert.match(builder.stderr, /\[build\] builder = "paketobuildpacks\/builder:base" is not supported yet/);
  });

  test('launch adopts the fly.toml it finds, writing in the app name it lacks', async () => {
    const dir = join(workDir, 'adopt');
    await mkdir(dir);
    const flyToml = 'primary_region = "fra"\n\n[http_service]\n  internal_port = 8080\n';
    await writeFile(join(dir, 'fly.toml'), flyToml);
    const adopted = await nearby.cli(['launch', '--yes', '--name', 'adopted'], { cwd: dir });
    assert.equal(adopted.code, 0, adopted.stderr);
    assert.match(adopted.stdout, /Set app = "adopted" in fly.toml/);
    assert.match(adopted.stdout, /Created app adopted in organization personal/);
    assert.match(adopted.stdout, /Adopted fly.toml/);
    assert.equal(await readFile(join(dir, 'fly.toml'), 'utf8'), `app = "adopted"\n${flyToml}`);
    assert.equal((await nearby.api('GET', '/v1/apps/adopted')).status, 200);

    const again = await nearby.cli(['launch', '--yes'], { cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /App adopted exists already; using it/);

    const empty = join(workDir, 'empty');
    await mkdir(empty);
    const nothing = await nearby.cli(['launch', '--yes'], { cwd: empty });
    assert.equal(nothing.code, 2, 'a usage error');
    assert.match(nothing.stderr, /nothing to launch here: no Dockerfile, no nearby.toml or fly.toml/);
  });

  test('the registry keeps images across a server restart, and comes back when it dies', async () => {
    assert.ok(builtReference, 'needs the build of the first test');
    const digest = builtReference.split('@')[1];
    const pullable = async () => {
      const client = new RegistryClient({ credentials: () => ({ username: 'x', password: nearby.token }) });
      return (await client.getManifest(registryHost, 'shop', digest, 'shop')).digest;
    };
    await nearby.restart();
    // The server answers /health once its registry answers; retried only for a very slow host.
    assert.equal(await eventually(() => pullable().catch(() => undefined)), digest);

    const pidFile = join(nearby.dataDir, 'registry', 'registry.pid');
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    process.kill(pid, 'SIGKILL');
    const restarted = await eventually(async () => {
      const now = Number((await readFile(pidFile, 'utf8')).trim());
      return now !== pid ? now : undefined;
    });
    assert.notEqual(restarted, pid);
    assert.equal(await eventually(() => pullable().catch(() => undefined)), digest);
    // And the machine built from it still serves after the restart.
    const response = await eventually(() => curl('shop', '/').catch(() => undefined));
    assert.match(response, /^hello from/);
  });
});

/** The file names in every layer of a pushed image. */
async function imageFiles(registry: string, repository: string, digest: string, token: string) {
  const client = new RegistryClient({ credentials: () => ({ username: 'x', password: token }) });
  const manifest = await client.getManifest(registry, repository, digest, repository);
  const layers = (JSON.parse(manifest.body.toString('utf8')) as { layers: { digest: string }[] }).layers;
  const names: string[] = [];
  for (const layer of layers) {
    const blob = Buffer.from(await (await client.getBlob(registry, repository, layer.digest)).arrayBuffer());
    const extract = tar.extract();
    extract.on('entry', (header, stream, next) => {
      names.push(header.name.replace(/^\.?\//, ''));
      stream.on('end', next);
      stream.resume();
    });
    const done = new Promise<void>((resolve, reject) => {
      extract.on('finish', () => resolve());
      extract.on('error', reject);
    });
    extract.end(blob[0] === 0x1f ? gunzipSync(blob) : blob);
    await done;
  }
  return names;
}
