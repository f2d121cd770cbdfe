/**
 * The reference every start is measured against: the OCI runtime alone (`crun run`, or runc) of a
 * bundle running `/bin/true` in a nearby server's cached image, timed in the same run as the thing
 * it is compared with (this shared host's speed changes from hour to hour).
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stats } from './stats.ts';

/** Where the user namespace's ids start on the host (below every machine's range: id-ranges.ts). */
const USERNS_HOST_ID = 1_000_000;

/** The runtime binary a nearby server on `dataDir` uses (its `server.json`). */
export async function serverRuntime(dataDir: string): Promise<'crun' | 'runc'> {
  const { runtime } = JSON.parse(await readFile(join(dataDir, 'server.json'), 'utf8'));
  return runtime === 'runc' ? 'runc' : 'crun';
}

/** A bundle running `/bin/true`, ready to be run one time at a time (`bareRuntime`). */
export interface BareRuntime {
  bin: 'crun' | 'runc';
  /** Milliseconds of one `<bin> run` of the bundle. */
  runOnce(): number;
  /** Removes the bundle. */
  close(): Promise<void>;
}

/**
 * A bundle of `/bin/true` in the first cached image root of the server on `dataDir`. With
 * `userns`, in a user namespace mapping 0…65535 onto host ids from USERNS_HOST_ID (what a machine
 * runs in since docs/isolation.md), on a copy of that root. Its runs can be interleaved with what
 * they are compared with, so both see the same load.
 */
export async function bareRuntime(dataDir: string, options: { userns?: boolean } = {}): Promise<BareRuntime> {
  const bin = await serverRuntime(dataDir);
  const image = execFileSync('sh', ['-c', `ls -d ${dataDir}/images/rootfs/*/ | head -1`], {
    encoding: 'utf8',
  }).trim();
  const bundle = await mkdtemp(join(tmpdir(), 'nearby-bench-bundle-'));
  const close = () => rm(bundle, { recursive: true, force: true });
  try {
    // In a user namespace the root must belong to its root (machines get that from an idmapped
    // mount), and the directories crun mounts on must exist: a copy owned by the mapped ids.
    const rootfs = options.userns ? join(bundle, 'rootfs') : image;
    if (options.userns) {
      await chmod(bundle, 0o755); // mkdtemp's 0700 would keep the namespace's root out of its root
      execFileSync('cp', ['-a', image, rootfs]);
      execFileSync('mkdir', ['-p', join(rootfs, 'proc'), join(rootfs, 'dev'), join(rootfs, 'sys')]);
      execFileSync('chown', ['-R', `${USERNS_HOST_ID}:${USERNS_HOST_ID}`, rootfs]);
    }
    execFileSync(bin, ['spec'], { cwd: bundle });
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    config.root = { path: rootfs, readonly: true };
    config.process.args = ['/bin/true'];
    config.process.terminal = false;
    if (options.userns) {
      const mapping = [{ containerID: 0, hostID: USERNS_HOST_ID, size: 65_536 }];
      config.linux.namespaces.push({ type: 'user' }, { type: 'cgroup' });
      config.linux.uidMappings = mapping;
      config.linux.gidMappings = mapping;
    }
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
  } catch (error) {
    await close();
    throw error;
  }
  let runs = 0;
  return {
    bin,
    runOnce() {
      // Timed by a shell around the runtime, not from here: a spawn from Node forks this process,
      // whose page tables grow with its heap (~7 ms more at the bench's ~170 MB, docs/perf.md).
      const script =
        's=$EPOCHREALTIME; "$0" run --bundle "$1" "$2" >/dev/null || exit; echo "$s $EPOCHREALTIME"';
      const id = `nearby-bench-${process.pid}-${runs++}`;
      const times = execFileSync('bash', ['-c', script, bin, bundle, id], {
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const [started, ended] = times.trim().split(' ').map(Number);
      return (ended - started) * 1000;
    },
    close,
  };
}

/** Milliseconds of `<bin> run` of `/bin/true`, `rounds` times in a row (`bareRuntime`). */
export async function bareRuntimeRuns(
  dataDir: string,
  rounds: number,
  options: { userns?: boolean } = {},
): Promise<{ bin: 'crun' | 'runc'; samples: number[]; p50: number; p95: number }> {
  const runtime = await bareRuntime(dataDir, options);
  try {
    const samples = Array.from({ length: rounds }, () => runtime.runOnce());
    return { bin: runtime.bin, samples, ...stats(samples) };
  } finally {
    await runtime.close();
  }
}
