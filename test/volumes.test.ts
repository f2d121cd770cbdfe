/**
 * Volumes end to end: a real `nearby server`, the `hello` image, ext4 volumes on loop devices.
 * Data written inside a machine survives stop/start, an update, a server restart and a redeploy;
 * the size is enforced by the filesystem; extend, snapshots and restore work; nothing is left
 * mounted or attached after `nearby host clean --purge`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { ExecReply, MachineView, VolumeView } from '../src/model/mod.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

const run = promisify(execFile);
const GB = 1024 ** 3;

/** Mount points and loop devices on this host that belong to `dataDir`. */
async function hostTraces(dataDir: string): Promise<string[]> {
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${dataDir}/volumes`));
  const { stdout } = await run('losetup', ['--list', '--noheadings', '-O', 'NAME,BACK-FILE']);
  const loops = stdout.split('\n').filter((line) => line.includes(`${dataDir}/volumes`));
  return [...mounts, ...loops];
}

describe('volumes: persistent, size-enforced disks for machines', { concurrency: false }, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let image: string;
  let workdir: string;
  let volumeId: string;
  let machineId: string;
  let snapshotId: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  const cli = async (args: string[], cwd = workdir) => {
    const result = await nearby.cli(args, { cwd });
    assert.equal(result.code, 0, `nearby ${args.join(' ')}: ${result.stdout}\n${result.stderr}`);
    return result.stdout;
  };
  const sh = async (app: string, machine: string, script: string) => {
    const { status, body } = await nearby.api<ExecReply>('POST', `/v1/apps/${app}/machines/${machine}/exec`, {
      command: ['/bin/sh', '-c', script],
      timeout: 60,
    });
    assert.equal(status, 200, JSON.stringify(body));
    return body;
  };
  const waitFor = async (app: string, machine: string, state: string) => {
    const { status, body } = await nearby.api(
      'GET',
      `/v1/apps/${app}/machines/${machine}/wait?state=${state}`,
    );
    assert.equal(status, 200, `${JSON.stringify(body)}\n${nearby.output().slice(-2000)}`);
  };
  const volume = async (app: string, id: string) =>
    (await nearby.api<VolumeView>('GET', `/v1/apps/${app}/volumes/${id}`)).body;

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    workdir = await mkdtemp(join(tmpdir(), 'nearby-volumes-'));
    cleanups.push(() => rm(workdir, { recursive: true, force: true }));
    await cli(['launch', '--image', image, '--name', 'vols']);
  });

  test('volumes create makes an ext4 volume of the size asked, mounted on its host', async () => {
    const out = await cli(['volumes', 'create', 'data', '--size', '1']);
    const match = out.match(/Created volume (vol_[a-z0-9]+) \(data, 1 GB\) in fra on host \S+/);
    assert.ok(match, out);
    volumeId = match[1];
    const list = await cli(['volumes', 'list']);
    assert.match(list, new RegExp(`${volumeId}\\s+data\\s+created\\s+1GB\\s+fra`));
    const view = await volume('vols', volumeId);
    assert.equal(view.fs_bytes, GB, 'the filesystem spans the whole volume');
    assert.equal((await hostTraces(nearby.dataDir)).length, 2, 'one mount and one loop device');
    const bad = await nearby.cli(['volumes', 'create', 'bad name', '--size', '1'], { cwd: workdir });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /volume name 'bad name' is invalid/);
  });

  test('a machine mounts it; its data survives stop/start, an update and a server restart', async () => {
    const created = await nearby.api<MachineView>('POST', '/v1/apps/vols/machines', {
      config: { image, mounts: [{ volume: volumeId, path: '/data' }] },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    machineId = created.body.id;
    await waitFor('vols', machineId, 'started');
    assert.equal((await volume('vols', volumeId)).attached_machine_id, machineId);
    const wrote = await sh('vols', machineId, 'echo kept > /data/note && cat /data/note');
    assert.equal(wrote.stdout, 'kept\n', wrote.stderr);

    await cli(['machine', 'stop', machineId, '-a', 'vols']);
    await cli(['machine', 'start', machineId, '-a', 'vols']);
    await waitFor('vols', machineId, 'started');
    assert.equal((await sh('vols', machineId, 'cat /data/note')).stdout, 'kept\n', 'after stop/start');

    const updated = await nearby.api<MachineView>('POST', `/v1/apps/vols/machines/${machineId}`, {
      config: { image, env: { ROUND: '2' }, mounts: [{ volume: volumeId, path: '/data' }] },
    });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    await eventually(async () => {
      const { body } = await nearby.api<MachineView>('GET', `/v1/apps/vols/machines/${machineId}`);
      return body.state === 'started' && body.instance_id === updated.body.instance_id ? true : undefined;
    }, 60_000);
    const afterUpdate = await sh('vols', machineId, 'echo $ROUND; cat /data/note');
    assert.equal(afterUpdate.stdout, '2\nkept\n', 'after an update to a new version');

    await nearby.restart();
    const afterRestart = await eventually(async () => {
      const { status, body } = await nearby.api<ExecReply>(
        'POST',
        `/v1/apps/vols/machines/${machineId}/exec`,
        {
          command: ['cat', '/data/note'],
        },
      );
      return status === 200 ? body : undefined;
    }, 60_000);
    assert.equal(afterRestart.stdout, 'kept\n', 'after a server restart');
  });

  test('the size is enforced: writing past it fails with ENOSPC inside the machine', async () => {
    const result = await sh(
      'vols',
      machineId,
      // cat, not head, writes the file: busybox's head reports any write error as "I/O error".
      'head -c 1200000000 /dev/zero | cat > /data/big; echo "exit=$?"; rm /data/big',
    );
    assert.match(result.stderr, /No space left on device/);
    assert.match(result.stdout, /exit=1/);
    assert.equal((await sh('vols', machineId, 'cat /data/note')).stdout, 'kept\n');
  });

  test('a volume in use cannot be destroyed or mounted by a second machine', async () => {
    const refused = await nearby.cli(['volumes', 'destroy', volumeId, '--yes'], { cwd: workdir });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`volume ${volumeId} is attached to machine ${machineId}`));
    const second = await nearby.api<{ code: string }>('POST', '/v1/apps/vols/machines', {
      config: { image, mounts: [{ volume: volumeId, path: '/data' }] },
    });
    assert.equal(second.status, 409);
    assert.equal(second.body.code, 'VOLUME_ATTACHED');
  });

  test('extend grows the filesystem the machine sees', async () => {
    const out = await cli(['volumes', 'extend', volumeId, '--size', '2']);
    assert.match(out, new RegExp(`Volume ${volumeId} is now 2 GB`));
    if ((await volume('vols', volumeId)).pending) {
      // This host withholds online resizing (CAP_SYS_RESOURCE): it happens at the next start.
      assert.match(out, /grows to 2 GB when its machine restarts/);
      await cli(['machine', 'restart', machineId, '-a', 'vols']);
      await waitFor('vols', machineId, 'started');
    }
    const view = await eventually(async () => {
      const v = await volume('vols', volumeId);
      return v.fs_bytes === 2 * GB ? v : undefined;
    });
    assert.equal(view.pending, undefined);
    const df = await sh('vols', machineId, 'df -k /data | tail -1');
    const totalKb = Number(df.stdout.trim().split(/\s+/)[1]);
    assert.ok(totalKb > 1.8 * 1024 * 1024, `df shows ${df.stdout}`);
    assert.equal((await sh('vols', machineId, 'cat /data/note')).stdout, 'kept\n');
  });

  test('a snapshot is listed with its size and time, and restores into a new volume', async () => {
    const out = await cli(['volumes', 'snapshots', 'create', volumeId]);
    const match = out.match(/Created snapshot (vs_[a-z0-9]+) of volume (vol_[a-z0-9]+) \((.+) on disk\)/);
    assert.ok(match, out);
    snapshotId = match[1];
    assert.equal(match[2], volumeId);
    const list = await cli(['volumes', 'snapshots', 'list', volumeId]);
    assert.match(
      list,
      new RegExp(`${snapshotId}\\s+created\\s+[\\d.]+ [KMG]B\\s+2GB\\s+\\d{4}-\\d\\d-\\d\\dT`),
    );
    await sh('vols', machineId, 'echo later > /data/after-snapshot');

    const restored = await cli(['volumes', 'create', 'copy', '--snapshot-id', snapshotId]);
    const restoredId = restored.match(/Created volume (vol_[a-z0-9]+) \(copy, 2 GB\)/)?.[1];
    assert.ok(restoredId, restored);
    // A fork (source_volume_id) copies the live volume, frozen for the copy.
    const fork = await nearby.api<VolumeView>('POST', '/v1/apps/vols/volumes', {
      name: 'fork',
      source_volume_id: volumeId,
    });
    assert.equal(fork.status, 200, JSON.stringify(fork.body));
    await eventually(async () =>
      (await volume('vols', fork.body.id)).state === 'created' ? true : undefined,
    );
    const reader = await nearby.api<MachineView>('POST', '/v1/apps/vols/machines', {
      config: {
        image,
        mounts: [
          { volume: restoredId, path: '/restored' },
          { volume: fork.body.id, path: '/forked' },
        ],
      },
    });
    assert.equal(reader.status, 200, JSON.stringify(reader.body));
    await waitFor('vols', reader.body.id, 'started');
    const read = await sh('vols', reader.body.id, 'cat /restored/note; ls /restored');
    assert.equal(
      read.stdout,
      'kept\nlost+found\nnote\n',
      'the snapshot has what was there when it was taken',
    );
    const forked = await sh('vols', reader.body.id, 'cat /forked/after-snapshot');
    assert.equal(forked.stdout, 'later\n', 'the fork has what the volume held when it was forked');
  });

  test('[[mounts]] in nearby.toml: deploy gives each machine a volume, a redeploy keeps it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nearby-volumes-deploy-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await cli(['launch', '--image', image, '--name', 'vold'], dir);
    const toml = join(dir, 'nearby.toml');
    const base = await readFile(toml, 'utf8');
    await writeFile(toml, `${base}\n[[mounts]]\n  source = "store"\n  destination = "/store"\n`);
    await cli(['deploy'], dir);
    const machines = (await nearby.api<MachineView[]>('GET', '/v1/apps/vold/machines')).body;
    assert.ok(machines.length >= 1);
    const volumes = (await nearby.api<VolumeView[]>('GET', '/v1/apps/vold/volumes')).body;
    assert.equal(volumes.length, machines.length, 'one volume per machine');
    assert.deepEqual(volumes.map((v) => v.attached_machine_id).sort(), machines.map((m) => m.id).sort());
    for (const machine of machines) await sh('vold', machine.id, `echo ${machine.id} > /store/who`);

    await writeFile(
      toml,
      `${base}\n[env]\n  ROUND = "2"\n\n[[mounts]]\n  source = "store"\n  destination = "/store"\n`,
    );
    await cli(['deploy'], dir);
    for (const machine of machines) {
      const read = await sh('vold', machine.id, 'echo $ROUND; cat /store/who');
      assert.equal(read.stdout, `2\n${machine.id}\n`, `machine ${machine.id} kept its volume's data`);
    }
    const again = (await nearby.api<VolumeView[]>('GET', '/v1/apps/vold/volumes')).body;
    assert.deepEqual(again.map((v) => v.id).sort(), volumes.map((v) => v.id).sort(), 'no new volumes');
  });

  test('destroying the machine frees the volume; destroy and host clean leave nothing mounted', async () => {
    await cli(['machine', 'destroy', '--force', machineId, '-a', 'vols']);
    await waitFor('vols', machineId, 'destroyed');
    await eventually(async () =>
      (await volume('vols', volumeId)).attached_machine_id === null ? true : undefined,
    );
    const out = await cli(['volumes', 'destroy', volumeId, '--yes']);
    assert.match(out, new RegExp(`Destroyed volume ${volumeId}`));
    const traces = await hostTraces(nearby.dataDir);
    assert.ok(!traces.some((trace) => trace.includes(volumeId)), traces.join('\n'));
    assert.doesNotMatch(await cli(['volumes', 'list']), new RegExp(volumeId));
    // The snapshot outlives its volume.
    assert.match(await cli(['volumes', 'show', volumeId]), /State:\s+destroyed/);

    // Destroying an app destroys its volumes: unmounted and detached once its machines are gone.
    const vold = (await nearby.api<VolumeView[]>('GET', '/v1/apps/vold/volumes')).body.map((v) => v.id);
    await cli(['apps', 'destroy', 'vold', '--yes']);
    await eventually(async () => {
      const traces = await hostTraces(nearby.dataDir);
      return vold.some((id) => traces.some((trace) => trace.includes(id))) ? undefined : true;
    }, 60_000);
    assert.ok((await hostTraces(nearby.dataDir)).length > 0, "the other app's volumes are still mounted");
    await nearby.clean();
    assert.deepEqual(await hostTraces(nearby.dataDir), [], 'host clean --purge removes every mount and loop');
  });
});
