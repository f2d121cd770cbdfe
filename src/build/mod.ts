/**
 * Dockerfile builds: `buildah build` into nearby's build storage, then `buildah push` to nearby's
 * registry as `<registry>/<app>:<tag>`, returning the pushed digest reference. Runs where the CLI
 * runs (like `flyctl deploy --local-only`); progress lines are printed as buildah goes.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Credentials, isLoopbackRegistry, RegistryClient } from '../oci/mod.ts';
import { type BuildahStorage, runBuildah } from './buildah.ts';
import { buildErrors } from './errors.ts';
import { formatBytes } from './format-bytes.ts';
import { pushedSize } from './pushed-size.ts';

export { buildErrors } from './errors.ts';
export { formatBytes };

export interface BuildRequest {
  app: string;
  /** Absolute path of the Dockerfile; its directory is the build context. */
  dockerfile: string;
  /** An ignore file other than the context's `.dockerignore` (fly.toml's `[build] ignorefile`). */
  ignorefile?: string;
  /** `--build-arg`s (fly.toml's `[build.args]`). */
  args: Record<string, string>;
  /** The stage to build (`build-target`). */
  target?: string;
  /** `host:port` of nearby's registry. */
  registry: string;
  /** May push to the app's repository: any user name, a nearby token as password. */
  credentials: Credentials;
  /** buildah's storage (`root/`, `run/` below it); kept between builds as the layer cache. */
  storageDir: string;
  tag: string;
  out: (line: string) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** `registry/app:tag@sha256:…`: what to deploy. */
  reference: string;
  digest: string;
  layers: number;
  bytes: number;
}

/** @throws NearbyError BUILDAH_MISSING, DOCKERFILE_NOT_FOUND, BUILD_FAILED, PUSH_FAILED */
export async function buildAndPush(request: BuildRequest): Promise<BuildResult> {
  if (!existsSync(request.dockerfile)) throw buildErrors.dockerfileMissing(request.dockerfile);
  const storage: BuildahStorage = {
    root: join(request.storageDir, 'root'),
    runroot: join(request.storageDir, 'run'),
  };
  const context = join(request.dockerfile, '..');
  const target = `${request.registry}/${request.app}:${request.tag}`;
  const local = `localhost/nearby-build/${request.app}:${request.tag}`;
  const scratch = await mkdtemp(join(tmpdir(), 'nearby-build-'));
  const print = (line: string) => request.out(`  ${line}`);
  try {
    const authfile = join(scratch, 'auth.json');
    const auth = Buffer.from(`${request.credentials.username}:${request.credentials.password}`);
    await writeFile(
      authfile,
      JSON.stringify({ auths: { [request.registry]: { auth: auth.toString('base64') } } }),
      {
        mode: 0o600,
      },
    );
    const env = {
      ...process.env,
      CONTAINERS_REGISTRIES_CONF: await registriesConf(scratch, request.registry),
    };
    const options = { env, onLine: print, signal: request.signal };

    request.out(`==> Building ${request.dockerfile} with buildah`);
    const buildArgs = Object.entries(request.args).flatMap(([name, value]) => [
      '--build-arg',
      `${name}=${value}`,
    ]);
    const built = await runBuildah(
      storage,
      [
        'build',
        '--layers',
        '--authfile',
        authfile,
        '-f',
        request.dockerfile,
        '-t',
        local,
        ...buildArgs,
        ...(request.target ? ['--target', request.target] : []),
        ...(request.ignorefile ? ['--ignorefile', request.ignorefile] : []),
        context,
      ],
      options,
    );
    request.signal?.throwIfAborted();
    if (built.code !== 0) throw buildErrors.buildFailed(built.code, built.tail);

    request.out(`==> Pushing ${target}`);
    const digestFile = join(scratch, 'digest');
    const pushed = await runBuildah(
      storage,
      [
        'push',
        '--authfile',
        authfile,
        '--digestfile',
        digestFile,
        ...(plainHttp(request.registry) ? ['--tls-verify=false'] : []),
        local,
        `docker://${target}`,
      ],
      options,
    );
    request.signal?.throwIfAborted();
    if (pushed.code !== 0) throw buildErrors.pushFailed(target, pushed.code, pushed.tail);
    // The tag is in the registry now; the local copy would only fill the disk (layers stay cached).
    await runBuildah(storage, ['rmi', local], { onLine: () => {} }).catch(() => {});

    const digest = (await readFile(digestFile, 'utf8')).trim();
    const client = new RegistryClient({
      credentials: () => request.credentials,
      insecureRegistries: plainHttp(request.registry) ? [request.registry] : [],
    });
    const size = await pushedSize(client, request.registry, request.app, digest, request.signal);
    request.out(
      `  Pushed ${size.layers} layer${size.layers === 1 ? '' : 's'}, ${formatBytes(size.bytes)}: ${target}@${digest.slice(0, 19)}…`,
    );
    return { reference: `${target}@${digest}`, digest, ...size };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The system's registries.conf plus nearby's registry marked as plain HTTP (it listens on
 * loopback without TLS), so a Dockerfile may start `FROM` an image pushed there before.
 */
async function registriesConf(dir: string, registry: string): Promise<string> {
  const system = await readFile('/etc/containers/registries.conf', 'utf8').catch(() => '');
  const path = join(dir, 'registries.conf');
  const ours = plainHttp(registry) ? `\n[[registry]]\nlocation = "${registry}"\ninsecure = true\n` : '';
  await writeFile(path, `${system}${ours}`);
  return path;
}

/**
 * nearby's registry speaks plain HTTP: on loopback, or at an address named in
 * NEARBY_INSECURE_REGISTRIES (the variable the server reads too), as a world's registry is.
 */
function plainHttp(registry: string): boolean {
  const listed = process.env.NEARBY_INSECURE_REGISTRIES?.split(',').map((entry) => entry.trim()) ?? [];
  return isLoopbackRegistry(registry) || listed.includes(registry);
}
