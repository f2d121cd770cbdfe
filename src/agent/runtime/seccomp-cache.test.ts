import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runCommand } from '../../run-command.ts';
import { makeBusyboxRootfs } from './busybox-rootfs.ts';
import { createRuntime } from './mod.ts';
import { saveCompiledSeccomp, useCachedSeccomp } from './seccomp-cache.ts';

const work = await mkdtemp(join(tmpdir(), 'nearby-seccomp-'));
after(() => rm(work, { recursive: true, force: true }));
const annotation = 'run.oci.seccomp_bpf_data';

test('a compiled filter is saved by profile and given to bundles with the same profile only', async () => {
  const cache = join(work, 'cache');
  const state = join(work, 'state');
  await mkdir(state, { recursive: true });
  await writeFile(join(state, 'seccomp.bpf'), Buffer.from([1, 2, 3, 4]));
  const profile = {
    defaultAction: 'SCMP_ACT_ERRNO',
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
  };
  const first = join(work, 'first.json');
  await writeFile(first, JSON.stringify({ linux: { seccomp: profile } }));
  assert.equal(await useCachedSeccomp(first, cache), false, 'nothing cached yet');
  await saveCompiledSeccomp(first, state, cache);

  const same = join(work, 'same.json');
  await writeFile(same, JSON.stringify({ linux: { seccomp: profile }, annotations: { keep: 'me' } }));
  assert.equal(await useCachedSeccomp(same, cache), true);
  const written = JSON.parse(await readFile(same, 'utf8'));
  assert.equal(written.annotations[annotation], Buffer.from([1, 2, 3, 4]).toString('base64'));
  assert.equal(written.annotations.keep, 'me');
  assert.deepEqual(
    written.linux.seccomp,
    profile,
    'the profile stays for runtimes that ignore the annotation',
  );

  const other = join(work, 'other.json');
  await writeFile(
    other,
    JSON.stringify({ linux: { seccomp: { ...profile, defaultAction: 'SCMP_ACT_KILL' } } }),
  );
  assert.equal(await useCachedSeccomp(other, cache), false, 'another profile compiles on its own');
  const none = join(work, 'none.json');
  await writeFile(none, JSON.stringify({ linux: {} }));
  assert.equal(await useCachedSeccomp(none, cache), false, 'no profile, no filter');
});

test('crun: the second start of a machine uses the cached filter, and the filter is in force', {
  skip: process.getuid?.() === 0 ? false : 'needs root',
}, async (t) => {
  const prep = await runCommand(join(import.meta.dirname, '../../../scripts/host-prep.sh'), []);
  assert.equal(prep.code, 0, prep.stderr);
  const runtime = await createRuntime({ stateDir: join(work, 'crun-state') });
  if (runtime.name !== 'crun') return t.skip('crun is not the runtime here');
  const netns = `nbsc-${randomBytes(3).toString('hex')}`;
  await runCommand('ip', ['netns', 'add', netns]);
  const id = `sc${randomBytes(4).toString('hex')}`;
  t.after(async () => {
    await runtime.destroy(id).catch(() => {});
    await runCommand('ip', ['netns', 'del', netns]);
  });
  const imageRootfs = await makeBusyboxRootfs(join(work, 'image'));
  await runtime.prepare({
    id,
    imageRootfs,
    dir: join(work, id),
    process: {
      args: ['/bin/sleep', '1000'],
      env: ['PATH=/bin'],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [] },
    },
    hostname: id,
    resources: { cpus: 1, memoryMb: 64, pids: 64 },
    netnsPath: `/run/netns/${netns}`,
    files: [],
  });
  const configPath = join(work, id, 'bundle', 'config.json');
  const seccompOf = async (pid: number) =>
    /^Seccomp:\s+2$/m.test(await readFile(`/proc/${pid}/status`, 'utf8'));

  const first = await runtime.start(id);
  assert.ok(await seccompOf(first.pid), 'the first start runs under the filter crun compiled');
  let annotated = false;
  for (let i = 0; i < 100 && !annotated; i++) {
    annotated = JSON.parse(await readFile(configPath, 'utf8')).annotations?.[annotation] !== undefined;
    if (!annotated) await sleep(20);
  }
  assert.ok(annotated, 'the bundle carries the compiled filter after the first start');
  await runtime.stop(id, { signal: 'SIGKILL', timeoutMs: 5_000 });

  const second = await runtime.start(id);
  assert.ok(await seccompOf(second.pid), 'the second start runs under the cached filter');
});
