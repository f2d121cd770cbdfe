/**
 * Builds a tiny image rootfs from the host's busybox-static plus our hello server, for tests and
 * benchmarks that need a real sandbox without a registry.
 */
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureNativeBuilt, HELLO_PATH } from './mod.ts';

const APPLETS = [
  'sh',
  'cat',
  'echo',
  'sleep',
  'ls',
  'id',
  'head',
  'tr',
  'grep',
  'env',
  'true',
  'false',
  'ps',
];

/** Writes the rootfs into `dir`: /bin/busybox and applets, /hello, and an `app` user (uid 1000). */
export async function makeBusyboxRootfs(dir: string, busybox = '/usr/bin/busybox'): Promise<string> {
  await ensureNativeBuilt();
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'home/app']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await copyFile(busybox, join(dir, 'bin', 'busybox'));
  for (const applet of APPLETS) await symlink('busybox', join(dir, 'bin', applet));
  await copyFile(HELLO_PATH, join(dir, 'hello'));
  await writeFile(
    join(dir, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n',
  );
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\napp:x:1000:\n');
  return dir;
}
