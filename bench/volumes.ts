/**
 * `npm run bench -- volumes`: what the agent's volume steps cost on this host — create (sparse
 * file + mkfs + loop + mount), a snapshot (frozen, sparse copy) against a plain full copy of the
 * same file, and an unmounted extend. Prints `name=value` lines.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../src/run-command.ts';
import { cleanVolumes } from '../src/volumes/cleanup.ts';
import {
  copyVolumeFile,
  diskUsage,
  growFile,
  growFilesystem,
  loopDevice,
  makeVolumeFile,
  mountVolume,
  refreshLoop,
  volumePaths,
  whileFrozen,
} from '../src/volumes/storage.ts';

const sizeGb = Number(process.argv[2] ?? 4);
const dataMb = Number(process.argv[3] ?? 256);
const dataDir = await mkdtemp(join(tmpdir(), 'nearby-bench-volumes-'));
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

try {
  const paths = volumePaths(dataDir, 'vol_bench');
  await mkdir(paths.dir, { recursive: true });
  let start = process.hrtime.bigint();
  await makeVolumeFile(paths.image, sizeGb);
  const device = await loopDevice(paths.image);
  await mountVolume(device, paths.mount);
  console.log(`volume_create_${sizeGb}gb_ms=${ms(start).toFixed(0)}`);

  await writeFile(join(paths.mount, 'data'), Buffer.alloc(dataMb * 1024 * 1024, 7));
  await runCommand('sync', ['-f', paths.mount]);

  start = process.hrtime.bigint();
  const snapshot = join(dataDir, 'snapshot.img');
  await whileFrozen(paths.mount, () => copyVolumeFile(paths.image, snapshot));
  const snapshotMs = ms(start);
  start = process.hrtime.bigint();
  await runCommand('cp', ['--sparse=never', paths.image, join(dataDir, 'full.img')]);
  const fullMs = ms(start);
  await rm(join(dataDir, 'full.img'));
  console.log(`snapshot_${dataMb}mb_of_${sizeGb}gb_ms=${snapshotMs.toFixed(0)}`);
  console.log(`reference_full_copy_ms=${fullMs.toFixed(0)}`);
  console.log(`snapshot_vs_full_copy=${(snapshotMs / fullMs).toFixed(2)}`);
  console.log(`snapshot_disk_mb=${((await diskUsage(snapshot)) / 1024 ** 2).toFixed(0)}`);

  start = process.hrtime.bigint();
  await growFile(paths.image, sizeGb * 2);
  await refreshLoop(device);
  const grown = await growFilesystem(device, paths.mount);
  console.log(`extend_${sizeGb}_to_${sizeGb * 2}gb_ms=${ms(start).toFixed(0)} grown=${grown}`);
} finally {
  await cleanVolumes(dataDir);
  await rm(dataDir, { recursive: true, force: true });
}
