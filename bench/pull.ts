/**
 * Pull + unpack benchmark: a realistic image (~50 MB of perl trees, thousands of files) pushed to a
 * local docker-registry, pulled cold by nearby's ImageStore and by skopeo copy + umoci unpack, 3 rounds each.
 * Run: node_modules/.bin/node bench/pull.ts
 */
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildImage, type LayerSpec } from '../src/oci/build.ts';
import { ImageStore } from '../src/oci/image-store.ts';
import { pushImage } from '../src/oci/push.ts';
import { startRegistry } from '../test/helpers/registry.ts';

const run = promisify(execFile);
const ROUNDS = 3;
const TREES = [
  '/usr/share/perl',
  '/usr/lib/x86_64-linux-gnu/perl',
  '/usr/lib/x86_64-linux-gnu/perl-base',
  '/usr/share/perl5',
];

/** Entries for a host directory tree, paths relative to `/`, hardlinks kept as hardlinks. */
async function treeEntries(root: string, seen: Map<string, string>): Promise<LayerSpec[]> {
  const entries: LayerSpec[] = [];
  const walk = async (path: string) => {
    const stats = await lstat(path);
    const name = path.slice(1);
    const meta = { mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, mtime: stats.mtime };
    if (stats.isDirectory()) {
      entries.push({ path: name, type: 'dir', ...meta });
      for (const child of (await readdir(path)).sort()) await walk(join(path, child));
    } else if (stats.isSymbolicLink()) {
      entries.push({ path: name, type: 'symlink', target: await readlink(path), ...meta });
    } else if (stats.isFile()) {
      const inode = `${stats.dev}:${stats.ino}`;
      const first = stats.nlink > 1 ? seen.get(inode) : undefined;
      if (first) entries.push({ path: name, type: 'hardlink', target: first });
      else entries.push({ path: name, type: 'file', content: await readFile(path), ...meta });
      if (stats.nlink > 1 && !first) seen.set(inode, name);
    }
  };
  await walk(root);
  return entries;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const registry = await startRegistry();
const work = await mkdtemp(join(tmpdir(), 'nearby-bench-pull-'));
try {
  const seen = new Map<string, string>();
  const parents: LayerSpec[] = ['usr', 'usr/share', 'usr/lib', 'usr/lib/x86_64-linux-gnu'].map((path) => ({
    path,
    type: 'dir',
  }));
  const layers: LayerSpec[][] = [];
  for (const [index, tree] of TREES.entries()) {
    const entries = await treeEntries(tree, seen).catch(() => []);
    if (entries.length > 0) layers.push(index === 0 ? [...parents, ...entries] : entries);
  }
  const image = await buildImage({ layers, config: { Cmd: ['/usr/bin/perl'] } });
  const files = layers.reduce((total, layer) => total + layer.length, 0);
  const compressed = image.layers.reduce((total, layer) => total + layer.size, 0);
  const content = layers.flat().reduce((total, entry) => total + (entry.content?.length ?? 0), 0);
  await pushImage(registry.url, 'perl', '1', image);
  const reference = `${registry.url}/perl:1`;
  console.log(
    `image=${reference} layers=${image.layers.length} entries=${files} content_mb=${(content / 1e6).toFixed(1)} compressed_mb=${(compressed / 1e6).toFixed(1)}`,
  );

  const nearby: number[] = [];
  const reference_: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const nearbyDir = join(work, `nearby-${round}`);
    nearby.push(await timed(async () => void (await new ImageStore({ dir: nearbyDir }).pull(reference))));
    await rm(nearbyDir, { recursive: true, force: true });

    const layout = join(work, `oci-${round}`);
    const rootfs = join(work, `umoci-${round}`);
    reference_.push(
      await timed(async () => {
        await run('skopeo', [
          'copy',
          '--quiet',
          '--src-tls-verify=false',
          `docker://${reference}`,
          `oci:${layout}:1`,
        ]);
        await run('umoci', ['unpack', '--image', `${layout}:1`, rootfs]);
      }),
    );
    await rm(layout, { recursive: true, force: true });
    await rm(rootfs, { recursive: true, force: true });
    console.log(
      `round=${round + 1} nearby_ms=${nearby[round].toFixed(0)} skopeo_umoci_ms=${reference_[round].toFixed(0)}`,
    );
  }
  const nearbyMs = median(nearby);
  const referenceMs = median(reference_);
  console.log(`pull_unpack_nearby_ms=${nearbyMs.toFixed(0)}`);
  console.log(`pull_unpack_skopeo_umoci_ms=${referenceMs.toFixed(0)}`);
  console.log(`pull_unpack_ratio=${(nearbyMs / referenceMs).toFixed(2)}`);
} finally {
  await rm(work, { recursive: true, force: true });
  await registry.stop();
}
