import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanVolumes } from './cleanup.ts';
import {
  allLoops,
  copyVolumeFile,
  diskUsage,
  filesystemBytes,
  GB,
  growFile,
  growFilesystem,
  isMounted,
  loopDevice,
  makeVolumeFile,
  mountVolume,
  refreshLoop,
  volumePaths,
  whileFrozen,
} from './storage.ts';

async function scratch(t: { after(fn: () => unknown): void }) {
  const dataDir = await mkdtemp(join(tmpdir(), 'nearby-volume-'));
  t.after(async () => {
    await cleanVolumes(dataDir);
    await rm(dataDir, { recursive: true, force: true });
  });
  return dataDir;
}

test('a volume file is sparse ext4 on a loop device; it grows and is copied consistently', async (t) => {
  const dataDir = await scratch(t);
  const paths = volumePaths(dataDir, 'vol_unit1');
  await mkdir(paths.dir, { recursive: true });
  await makeVolumeFile(paths.image, 1);
  assert.ok((await diskUsage(paths.image)) < 100 * 1024 * 1024, 'sparse: far less than 1 GB on disk');
  const device = await loopDevice(paths.image);
  assert.equal(await loopDevice(paths.image), device, 'the attached device is reused');
  await mountVolume(device, paths.mount);
  assert.equal(await filesystemBytes(device), GB);
  await writeFile(join(paths.mount, 'note'), 'kept\n');

  assert.equal(await growFile(paths.image, 2), true);
  assert.equal(await growFile(paths.image, 2), false, 'never shrinks or grows twice');
  await refreshLoop(device);
  assert.equal(await growFilesystem(device, paths.mount), true, 'nothing else holds it');
  assert.equal(await filesystemBytes(device), 2 * GB);
  assert.ok(await isMounted(paths.mount), 'mounted again after an offline resize');
  assert.equal(await readFile(join(paths.mount, 'note'), 'utf8'), 'kept\n');

  const copy = volumePaths(dataDir, 'vol_unit2');
  await mkdir(copy.dir, { recursive: true });
  await whileFrozen(paths.mount, () => copyVolumeFile(paths.image, copy.image));
  await writeFile(join(paths.mount, 'after'), 'later\n'); // thawed: writes work again
  const copyDevice = await loopDevice(copy.image);
  await mountVolume(copyDevice, copy.mount);
  assert.equal(await readFile(join(copy.mount, 'note'), 'utf8'), 'kept\n');
  assert.equal(await filesystemBytes(copyDevice), 2 * GB);

  assert.equal(await cleanVolumes(dataDir), 2);
  assert.equal(await isMounted(paths.mount), false);
  const loops = await allLoops();
  assert.ok(!loops.some((loop) => loop.file.startsWith(dataDir)), 'loop devices detached');
});

test('an offline resize waits while another mount namespace still holds the filesystem', async (t) => {
  const dataDir = await scratch(t);
  const paths = volumePaths(dataDir, 'vol_unit3');
  await mkdir(paths.dir, { recursive: true });
  await makeVolumeFile(paths.image, 1);
  const device = await loopDevice(paths.image);
  await mountVolume(device, paths.mount);
  // What a running machine does: its own mount namespace keeps the filesystem mounted.
  const holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '60'], {
    stdio: 'ignore',
  });
  t.after(() => holder.kill('SIGKILL'));
  await sleep(300);
  await growFile(paths.image, 2);
  await refreshLoop(device);
  const grown = await growFilesystem(device, paths.mount);
  // Online resizing works where the host grants CAP_SYS_RESOURCE; otherwise it must wait.
  assert.equal(await filesystemBytes(device), grown ? 2 * GB : GB);
  assert.ok(await isMounted(paths.mount), 'still mounted on the host either way');
  holder.kill('SIGKILL');
  await new Promise((resolve) => holder.once('exit', resolve));
  assert.equal(await growFilesystem(device, paths.mount), true, 'once nothing holds it');
  assert.equal(await filesystemBytes(device), 2 * GB);
});
