import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { isNearbyError } from '../errors.ts';
import { buildLayer, type Compression, type LayerSpec, opaque, whiteout } from './build.ts';
import { applyLayer, unpackImage } from './unpack.ts';

/** A temp workspace: `layers/` for blobs, `host/` standing for the rest of the host, `rootfs`. */
async function workspace(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'nearby-unpack-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'layers'));
  await mkdir(join(dir, 'host', 'etc'), { recursive: true });
  await writeFile(join(dir, 'host', 'etc', 'passwd'), 'host passwd\n');
  let count = 0;
  const layer = async (entries: LayerSpec[], compression: Compression = 'gzip') => {
    const built = await buildLayer(entries, compression);
    const path = join(dir, 'layers', `${count++}`);
    await writeFile(path, built.data);
    return { digest: built.digest, path };
  };
  return { dir, rootfs: join(dir, 'host', 'rootfs'), layer };
}

test('keeps files, dirs, modes incl. setuid/sticky, owners, mtimes and verbatim symlinks', async (t) => {
  const { rootfs, layer } = await workspace(t);
  const mtime = new Date('2021-05-06T07:08:09Z');
  await unpackImage(
    [
      await layer([
        { path: 'usr/bin/', type: 'dir' },
        { path: 'usr/bin/su', type: 'file', content: 'su', mode: 0o4755 },
        { path: 'usr/bin/wall', type: 'file', content: 'wall', mode: 0o2755, gid: 5 },
        { path: 'tmp', type: 'dir', mode: 0o1777 },
        { path: 'home/app', type: 'dir', uid: 1000, gid: 1000, mode: 0o750, mtime },
        { path: 'home/app/notes', type: 'file', content: 'hi', uid: 1000, gid: 1000, mode: 0o600, mtime },
        { path: 'etc/localtime', type: 'symlink', target: '/usr/share/zoneinfo/UTC' },
        { path: 'bin/sh', type: 'symlink', target: '../usr/bin/su' },
      ]),
    ],
    rootfs,
  );
  assert.equal((await stat(join(rootfs, 'usr/bin/su'))).mode & 0o7777, 0o4755);
  const wall = await stat(join(rootfs, 'usr/bin/wall'));
  assert.equal(wall.mode & 0o7777, 0o2755);
  assert.equal(wall.gid, 5);
  assert.equal((await stat(join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
  const home = await stat(join(rootfs, 'home/app'));
  assert.deepEqual([home.uid, home.gid, home.mode & 0o7777], [1000, 1000, 0o750]);
  assert.equal(home.mtime.getTime(), mtime.getTime(), 'directory mtime survives its children being written');
  const notes = await stat(join(rootfs, 'home/app/notes'));
  assert.deepEqual([notes.uid, notes.mode & 0o7777, notes.mtime.getTime()], [1000, 0o600, mtime.getTime()]);
  assert.equal(
    await readlink(join(rootfs, 'etc/localtime')),
    '/usr/share/zoneinfo/UTC',
    'absolute target kept verbatim',
  );
  assert.equal(await readlink(join(rootfs, 'bin/sh')), '../usr/bin/su');
  assert.equal((await stat(rootfs)).mode & 0o777, 0o755);
});

test('applies whiteouts and opaque directories against lower layers only', async (t) => {
  const { rootfs, layer } = await workspace(t);
  await unpackImage(
    [
      await layer([
        { path: 'app/keep', type: 'file', content: 'keep' },
        { path: 'app/gone', type: 'file', content: 'gone' },
        { path: 'app/olddir/file', type: 'file', content: 'x' },
        { path: 'cache/a', type: 'file', content: 'a' },
        { path: 'cache/sub/b', type: 'file', content: 'b' },
      ]),
      await layer([
        whiteout('app/gone'),
        whiteout('app/olddir'),
        whiteout('app/never-existed'),
        { path: 'cache/sub/new', type: 'file', content: 'new' },
        opaque('cache'),
        { path: 'cache/c', type: 'file', content: 'c' },
      ]),
    ],
    rootfs,
  );
  assert.deepEqual((await readdir(join(rootfs, 'app'))).sort(), ['keep']);
  assert.deepEqual((await readdir(join(rootfs, 'cache'))).sort(), ['c', 'sub']);
  assert.deepEqual(
    await readdir(join(rootfs, 'cache/sub')),
    ['new'],
    'lower cache/sub/b hidden, this layer kept',
  );
});

test('later layers replace files with dirs and links, and hardlinks share the inode', async (t) => {
  const { rootfs, layer } = await workspace(t);
  await unpackImage(
    [
      await layer([
        { path: 'x', type: 'file', content: 'file' },
        { path: 'd/inner', type: 'file', content: 'inner' },
      ]),
      await layer([
        { path: 'x', type: 'dir' },
        { path: 'd', type: 'symlink', target: 'x' },
        { path: 'bin/perl5.36', type: 'file', content: 'perl', mode: 0o755 },
        { path: 'bin/perl', type: 'hardlink', target: 'bin/perl5.36' },
      ]),
    ],
    rootfs,
  );
  assert.ok((await lstat(join(rootfs, 'x'))).isDirectory());
  assert.equal(await readlink(join(rootfs, 'd')), 'x');
  const [a, b] = [await stat(join(rootfs, 'bin/perl5.36')), await stat(join(rootfs, 'bin/perl'))];
  assert.equal(a.ino, b.ino);
  assert.equal(a.nlink, 2);
});

test('follows symlinks in rootfs scope: var/run -> /run puts var/run/x at <rootfs>/run/x', async (t) => {
  const { rootfs, layer, dir } = await workspace(t);
  await unpackImage(
    [
      await layer([
        { path: 'run', type: 'dir' },
        { path: 'var/run', type: 'symlink', target: '/run' },
        { path: 'evil', type: 'symlink', target: '/etc' },
      ]),
      await layer([
        { path: 'var/run/x', type: 'file', content: 'pid' },
        { path: 'evil/passwd', type: 'file', content: 'image passwd' },
      ]),
    ],
    rootfs,
  );
  assert.equal(await readFile(join(rootfs, 'run/x'), 'utf8'), 'pid');
  assert.equal(await readFile(join(rootfs, 'etc/passwd'), 'utf8'), 'image passwd');
  assert.equal(await readFile(join(dir, 'host/etc/passwd'), 'utf8'), 'host passwd\n', 'host file untouched');
});

test('refuses hostile entries with IMAGE_LAYER_UNSAFE and writes nothing outside the rootfs', async (t) => {
  const { rootfs, layer, dir } = await workspace(t);
  const hostile: [string, LayerSpec[]][] = [
    ['../x', [{ path: '../x', type: 'file', content: 'escaped' }]],
    ['/etc/x', [{ path: '/etc/x', type: 'file', content: 'escaped' }]],
    ['a/../../x', [{ path: 'a/../../x', type: 'file', content: 'escaped' }]],
    [
      'link/x',
      [
        { path: 'link', type: 'symlink', target: '../../..' },
        { path: 'link/x', type: 'file', content: 'escaped' },
      ],
    ],
    ['passwd', [{ path: 'passwd', type: 'hardlink', target: '../../etc/passwd' }]],
    ['abs-hardlink', [{ path: 'abs-hardlink', type: 'hardlink', target: '/etc/passwd' }]],
  ];
  for (const [entry, entries] of hostile) {
    const built = await layer(entries);
    const target = `${rootfs}-${entry.replaceAll('/', '_')}`;
    await assert.rejects(
      unpackImage([built], target),
      (error) =>
        isNearbyError(error, 'IMAGE_LAYER_UNSAFE') &&
        error.message.includes(built.digest) &&
        error.message.includes(entry),
      entry,
    );
    await assert.rejects(lstat(target), { code: 'ENOENT' }, 'no half rootfs is left behind');
  }
  assert.deepEqual((await readdir(join(dir, 'host'))).sort(), ['etc'], 'nothing escaped next to the rootfs');
  assert.deepEqual(await readdir(join(dir, 'host', 'etc')), ['passwd']);
  assert.equal(await readFile(join(dir, 'host/etc/passwd'), 'utf8'), 'host passwd\n');
  assert.deepEqual(await readdir(dir).then((names) => names.sort()), ['host', 'layers']);
});

test('unpacks zstd and uncompressed layers', async (t) => {
  const { rootfs, layer } = await workspace(t);
  await unpackImage(
    [
      await layer([{ path: 'a.txt', type: 'file', content: 'zstd layer' }], 'zstd'),
      await layer([{ path: 'b.txt', type: 'file', content: 'plain layer' }], 'none'),
    ],
    rootfs,
  );
  assert.equal(await readFile(join(rootfs, 'a.txt'), 'utf8'), 'zstd layer');
  assert.equal(await readFile(join(rootfs, 'b.txt'), 'utf8'), 'plain layer');
});

test('keeps xattrs from PAX records, fifos and device nodes', async (t) => {
  const { rootfs, layer } = await workspace(t);
  const warnings: string[] = [];
  await unpackImage(
    [
      await layer([
        { path: 'tagged', type: 'file', content: 'x', xattrs: { 'user.origin': 'nearby test' } },
        { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
        { path: 'pipe', type: 'fifo', mode: 0o600 },
      ]),
    ],
    rootfs,
    { onWarning: (message) => warnings.push(message) },
  );
  const nodeStats = await lstat(join(rootfs, 'dev/null'));
  assert.ok(nodeStats.isCharacterDevice());
  assert.equal(nodeStats.rdev, (1 << 8) | 3);
  assert.equal(nodeStats.mode & 0o777, 0o666);
  assert.ok((await lstat(join(rootfs, 'pipe'))).isFIFO());
  if (warnings.length > 0) {
    t.diagnostic(`this filesystem refuses user xattrs: ${warnings.join('; ')}`);
  } else {
    const value = execFileSync(
      'getfattr',
      ['--absolute-names', '--only-values', '-n', 'user.origin', join(rootfs, 'tagged')],
      { encoding: 'utf8' },
    );
    assert.equal(value, 'nearby test');
  }
});

test('a corrupt layer fails the unpack and leaves no rootfs', async (t) => {
  const { rootfs, layer } = await workspace(t);
  const good = await layer([{ path: 'a', type: 'file', content: randomBytes(20000) }]);
  const data = await readFile(good.path);
  data.fill(0x55, 20, 200);
  await writeFile(good.path, data);
  await assert.rejects(unpackImage([good], rootfs), (error) => isNearbyError(error, 'IMAGE_LAYER_INVALID'));
  await assert.rejects(lstat(rootfs), { code: 'ENOENT' });
  await assert.rejects(applyLayer(rootfs, good));
});

test('a later entry cannot turn a directory mtime into a write outside the rootfs', async (t) => {
  const { rootfs, layer, dir } = await workspace(t);
  const before = (await stat(join(dir, 'host', 'etc'))).mtimeMs;
  // `a/etc` gets its mtime at the end of the layer; by then `a` leads to the host's directory.
  await unpackImage(
    [
      await layer([
        { path: 'a', type: 'dir' },
        { path: 'a/etc', type: 'dir', mtime: new Date('2001-01-01T00:00:00Z') },
        { path: 'a', type: 'symlink', target: '..' },
        { path: 'gone', type: 'dir' },
        whiteout('gone'),
      ]),
    ],
    rootfs,
  );
  assert.equal(await readlink(join(rootfs, 'a')), '..');
  assert.equal((await stat(join(dir, 'host', 'etc'))).mtimeMs, before, 'the host directory is untouched');
});

test('tar headers that stall or break the parser fail as IMAGE_LAYER_INVALID', async (t) => {
  const { rootfs, layer } = await workspace(t);
  const built = await layer([{ path: 'dir', type: 'dir' }], 'none');
  const tarData = await readFile(built.path);
  // A directory claiming content (tar-stream never ends its stream), then a size field it reads as null.
  const withContent = Buffer.from(tarData);
  withContent.write('00000000060\0', 124, 'latin1');
  const badSize = Buffer.from(tarData);
  badSize.fill(0xad, 124, 136);
  for (const data of [withContent, badSize, Buffer.from([0])]) {
    for (const offset of data.length >= 512 ? [148] : []) {
      data.fill(0x20, offset, offset + 8);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += data[i];
      data.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset, 'latin1');
    }
    await writeFile(built.path, data);
    await assert.rejects(unpackImage([built], rootfs), (error) =>
      isNearbyError(error, 'IMAGE_LAYER_INVALID'),
    );
  }
});
