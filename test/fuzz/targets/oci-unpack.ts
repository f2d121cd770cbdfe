/**
 * Fuzz target: the OCI layer unpacker (src/oci/unpack.ts). Each input is one layer blob, unpacked
 * into `<workspace>/host/rootfs` on top of a fixed lower layer (dirs, files, a setgid dir and
 * symlinks that lead out of the rootfs, so whiteouts, opaque dirs and paths through lower links
 * meet something); beside it `host/etc/passwd` and `host/outside/` stand for the
 * rest of the host. Properties: the unpack succeeds or fails with IMAGE_LAYER_INVALID or
 * IMAGE_LAYER_UNSAFE; nothing outside the rootfs appears, changes or disappears, whatever the
 * outcome; no temp dir is left behind.
 *
 * Absolute link targets point at the workspace or at names nothing uses (`/nearby-fuzz-outside`),
 * never at real system paths: a bug found here must not damage the host running the fuzzer.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNearbyError } from '../../../src/errors.ts';
import { buildLayer, type LayerSpec, opaque, whiteout } from '../../../src/oci/build.ts';
import { unpackImage } from '../../../src/oci/unpack.ts';
import { mutateLayer } from '../mutate-tar.ts';
import type { FuzzTarget, Harness } from '../runner.ts';

const LAYER = `sha256:${'f0'.repeat(32)}`;
const LOWER = `sha256:${'10'.repeat(32)}`;
const OUTSIDE_NAME = 'nearby-fuzz-outside';
/** What the layer under each input holds: something for its whiteouts and paths to meet. */
const LOWER_LAYER: LayerSpec[] = [
  { path: 'etc/passwd', type: 'file', content: 'root:x:0:0::/root:/bin/sh\n' },
  { path: 'etc/shadow', type: 'file', content: 'root:*::0:::::\n', mode: 0o600 },
  { path: 'dir/file', type: 'file', content: 'lower' },
  { path: 'dir/sub/deep', type: 'file', content: 'deeper' },
  { path: 'shared', type: 'dir', mode: 0o2775, gid: 50 },
  { path: 'link', type: 'symlink', target: '../outside' },
  { path: 'up', type: 'symlink', target: '../..' },
  { path: 'abs', type: 'symlink', target: `/${OUTSIDE_NAME}` },
  { path: 'var/run', type: 'symlink', target: '/run' },
  { path: 'run', type: 'dir' },
];
/** Paths a bug could write to on the host itself: checked after every input. */
const HOST_CANARIES = [`/${OUTSIDE_NAME}`, `/tmp/${OUTSIDE_NAME}`];

interface Snapshot {
  [path: string]: string;
}

/** Every path under `dir` with its type, mode, owner, size and mtime; `skip` is left out. */
function snapshot(dir: string, skip: string[], into: Snapshot = {}): Snapshot {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip.includes(path)) continue;
    const stats = lstatSync(path);
    into[path] = `${stats.mode.toString(8)} ${stats.uid}:${stats.gid} ${stats.size} ${stats.mtimeMs}`;
    if (stats.isDirectory()) snapshot(path, skip, into);
  }
  return into;
}

export const ociUnpackTarget: FuzzTarget = {
  name: 'oci-unpack',
  ext: 'layer',
  async start(): Promise<Harness> {
    const workspace = mkdtempSync(join(tmpdir(), 'nearby-fuzz-unpack-'));
    const host = join(workspace, 'host');
    // The rootfs and its temp dir come and go in `images`, whose own mtime changes with them.
    const images = join(host, 'images');
    const rootfs = join(images, 'rootfs');
    const blob = join(workspace, 'layer');
    mkdirSync(join(host, 'etc'), { recursive: true });
    mkdirSync(join(host, 'outside'));
    mkdirSync(images);
    writeFileSync(join(host, 'etc', 'passwd'), 'host passwd\n');
    const lower = join(workspace, 'lower');
    writeFileSync(blob, '');
    writeFileSync(lower, (await buildLayer(LOWER_LAYER, 'gzip')).data);
    const skip = [blob, lower, images];
    const before = snapshot(workspace, skip);
    for (const canary of HOST_CANARIES) assert.ok(!existsSync(canary), `${canary} exists before fuzzing`);
    return {
      dictionary: [
        ...['.', '..', '../..', '../../..', 'a/../..', './a', 'a//b', 'a/./b', '', '/'],
        ...['a', 'b', 'etc', 'etc/passwd', 'dir', 'dir/file', 'link', 'link/x', 'link/link2', 'x'],
        ...['.wh.a', '.wh.dir', '.wh..wh..opq', 'dir/.wh..wh..opq', '.wh.', '.wh..', '.wh...', 'a/.wh.b'],
        ...['../outside', '../outside/x', '../../host/outside', '../etc/passwd', 'x'.repeat(100)],
        ...[`/${OUTSIDE_NAME}`, `/tmp/${OUTSIDE_NAME}`, `${host}/outside`, `${host}/etc/passwd`, '/..'],
        ...['/../../outside', `/../${OUTSIDE_NAME}`, 'a\0b', 'ä/é', 'dev/null', 'lnk/../../outside'],
        // Names of the lower layer: its links that lead out, its setgid dir, what to white out.
        ...['up', 'up/etc', 'up/outside/x', 'abs/x', 'var/run/x', 'shared/x', 'dir/sub/.wh.deep'],
        ...['etc/.wh.shadow', 'dir/sub/.wh..wh..opq', '.wh.up', '.wh.link', 'link/.wh.x', 'up/.wh.etc'],
      ],
      mutate: mutateLayer,
      seeds: await seedLayers(),
      async run(input) {
        writeFileSync(blob, input);
        let outcome = 'ok';
        try {
          await unpackImage(
            [
              { digest: LOWER, path: lower },
              { digest: LAYER, path: blob },
            ],
            rootfs,
          );
        } catch (error) {
          if (!isNearbyError(error) || !['IMAGE_LAYER_INVALID', 'IMAGE_LAYER_UNSAFE'].includes(error.code))
            throw error;
          assert.ok(error.message.includes(LAYER), `the error names the layer: ${error.message}`);
          // The reason without names and numbers: inputs reaching a new reason are kept as parents.
          outcome = `${error.code} ${error.message.replace(LAYER, '').replace(/"[^"]*"|\d+/g, '')}`;
        }
        if (outcome === 'ok') outcome = `ok ${kinds(rootfs)}`;
        rmSync(rootfs, { recursive: true, force: true });
        assert.deepEqual(readdirSync(images), [], 'no temp dir is left beside the rootfs');
        assert.deepEqual(snapshot(workspace, skip), before, 'nothing outside the rootfs changed');
        for (const canary of HOST_CANARIES) assert.ok(!existsSync(canary), `${canary} was written`);
        return outcome;
      },
      async close() {
        rmSync(workspace, { recursive: true, force: true });
      },
    };
  },
};

/** The kinds of entry a rootfs holds (`dir file symlink`), for the outcome of a good unpack. */
function kinds(rootfs: string): string {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      found.add(
        entry.isDirectory() ? 'dir' : entry.isSymbolicLink() ? 'symlink' : entry.isFile() ? 'file' : 'node',
      );
      if (entry.isDirectory()) walk(join(dir, entry.name));
    }
  };
  walk(rootfs);
  return [...found].sort().join(' ');
}

/** Layers with every kind of entry, well formed and hostile, in each compression. */
async function seedLayers(): Promise<Buffer[]> {
  const layers: LayerSpec[][] = [
    [
      { path: 'etc/', type: 'dir', mode: 0o755 },
      { path: 'etc/passwd', type: 'file', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 },
      { path: 'bin/sh', type: 'file', content: 'sh', mode: 0o4755, uid: 0, gid: 5 },
      { path: 'bin/ash', type: 'hardlink', target: 'bin/sh' },
      { path: 'usr/bin', type: 'symlink', target: '../bin' },
      { path: 'var/run', type: 'symlink', target: '/run' },
      { path: 'var/run/pid', type: 'file', content: '1' },
      { path: 'tmp', type: 'dir', mode: 0o1777 },
      { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0 },
      { path: 'pipe', type: 'fifo' },
      { path: 'tagged', type: 'file', content: 'x', xattrs: { 'user.origin': 'fuzz' } },
      whiteout('etc/shadow'),
      opaque('tmp'),
      { path: 'tmp/kept', type: 'file', content: 'kept' },
    ],
    [
      { path: 'link', type: 'symlink', target: '../outside' },
      { path: 'link/x', type: 'file', content: 'escaped' },
    ],
    [
      { path: 'abs', type: 'symlink', target: '/nearby-fuzz-outside' },
      { path: 'abs/x', type: 'file', content: 'escaped?' },
      { path: 'hard', type: 'hardlink', target: '../etc/passwd' },
    ],
    [
      { path: 'dir/file', type: 'file', content: 'a'.repeat(3000) },
      { path: 'dir', type: 'symlink', target: 'other' },
      { path: 'dir/file', type: 'file', content: 'through the link' },
      { path: '.wh.dir', type: 'file', content: '' },
    ],
  ];
  const seeds: Buffer[] = [];
  for (const entries of layers)
    for (const compression of ['gzip', 'zstd', 'none'] as const)
      seeds.push((await buildLayer(entries, compression)).data);
  return seeds;
}
