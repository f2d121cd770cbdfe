/**
 * Test images pushed to a local registry: a busybox base (`/bin/busybox` with applet links, passwd,
 * group, /tmp) and `hello` (the static C HTTP server from native/) on top. Layers are built once per process.
 */
import { execFile } from 'node:child_process';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BuiltLayer, buildImage, buildLayer, type LayerSpec } from '../../src/oci/build.ts';
import { pushImage } from '../../src/oci/push.ts';
import type { ImageConfig } from '../../src/oci/types.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
export const HELLO_BINARY = join(root, 'native', 'build', 'hello');
const BUSYBOX = '/bin/busybox';

// biome-ignore format: a list of names reads better packed
const APPLETS = [
  'sh', 'ash', 'ls', 'cat', 'id', 'sleep', 'echo', 'env', 'ps', 'mkdir', 'rm', 'cp', 'mv', 'ln', 'touch', 'chmod',
  'kill', 'pwd', 'uname', 'hostname', 'whoami', 'head', 'tail', 'wc', 'grep', 'sed', 'true', 'false', 'test',
  'wget', 'nc', 'printf', 'date', 'stat', 'readlink', 'df', 'mount', 'find', 'xargs', 'tr', 'cut', 'sort', 'vi',
];

export const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let baseLayer: Promise<BuiltLayer> | undefined;
let helloLayer: Promise<BuiltLayer> | undefined;

/** Busybox with applet symlinks, /etc/passwd and /etc/group (root and app:1000), /tmp 1777. */
export function busyboxLayer(): Promise<BuiltLayer> {
  baseLayer ??= (async () => {
    const entries: LayerSpec[] = [
      { path: 'bin', type: 'dir' },
      { path: 'bin/busybox', type: 'file', content: await readFile(BUSYBOX), mode: 0o755 },
      ...APPLETS.map((applet): LayerSpec => ({ path: `bin/${applet}`, type: 'symlink', target: 'busybox' })),
      { path: 'etc', type: 'dir' },
      {
        path: 'etc/passwd',
        type: 'file',
        content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
      },
      { path: 'etc/group', type: 'file', content: 'root:x:0:\napp:x:1000:\n' },
      { path: 'root', type: 'dir', mode: 0o700 },
      { path: 'home', type: 'dir' },
      { path: 'home/app', type: 'dir', uid: 1000, gid: 1000 },
      { path: 'tmp', type: 'dir', mode: 0o1777 },
      { path: 'proc', type: 'dir' },
      { path: 'sys', type: 'dir' },
      { path: 'dev', type: 'dir' },
    ];
    return buildLayer(entries);
  })();
  return baseLayer;
}

/** `/hello` from native/build/hello, built by scripts/build-native.sh when missing. */
export function helloBinaryLayer(): Promise<BuiltLayer> {
  helloLayer ??= (async () => {
    try {
      await access(HELLO_BINARY);
    } catch {
      await run('bash', [join(root, 'scripts', 'build-native.sh')], { cwd: root });
    }
    return buildLayer([{ path: 'hello', type: 'file', content: await readFile(HELLO_BINARY), mode: 0o755 }]);
  })();
  helloLayer.catch(() => {
    helloLayer = undefined;
  });
  return helloLayer;
}

/** Pushes a busybox-only image (`/bin/sh` as its command) and returns its reference. */
export async function busyboxImage(
  registryUrl: string,
  repository = 'busybox',
  tag = '1',
  config: ImageConfig = {},
): Promise<string> {
  const image = await buildImage({
    layers: [await busyboxLayer()],
    config: { Cmd: ['/bin/sh'], Env: [PATH_ENV], WorkingDir: '/', ...config },
  });
  await pushImage(registryUrl, repository, tag, image);
  return `${registryUrl}/${repository}:${tag}`;
}

/** Pushes the hello image (Entrypoint /hello, port 8080) and returns `127.0.0.1:PORT/hello:1`. */
export async function helloImage(registryUrl: string): Promise<string> {
  const image = await buildImage({
    layers: [await busyboxLayer(), await helloBinaryLayer()],
    config: { Entrypoint: ['/hello'], Env: [PATH_ENV], ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/' },
  });
  await pushImage(registryUrl, 'hello', '1', image);
  return `${registryUrl}/hello:1`;
}
