/**
 * The reference every start is measured against: the OCI runtime alone (`crun run`, or runc) of a
 * bundle running `/bin/true` in a nearby server's cached image, timed in the same run as the thing
 * it is compared with (this shared host's speed changes from hour to hour).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stats } from './stats.ts';

/** The runtime binary a nearby server on `dataDir` uses (its `server.json`). */
export async function serverRuntime(dataDir: string): Promise<'crun' | 'runc'> {
  const { runtime } = JSON.parse(await readFile(join(dataDir, 'server.json'), 'utf8'));
  return runtime === 'runc' ? 'runc' : 'crun';
}

/**
 * Milliseconds of `<bin> run` of `/bin/true`, `rounds` times, in the first cached image root of
 * the server on `dataDir`. With `userns`, in a user namespace mapping 0…65535 onto host ids from
 * 1000000 (what a machine runs in since docs/isolation.md; the root stays the host's, unmapped).
 */
export async function bareRuntimeRuns(
  dataDir: string,
  rounds: number,
  options: { userns?: boolean } = {},
): Promise<{ bin: 'crun' | 'runc'; samples: number[]; p50: number; p95: number }> {
  const bin = await serverRuntime(dataDir);
  const rootfs = execFileSync('sh', ['-c', `ls -d ${dataDir}/images/rootfs/*/ | head -1`], {
    encoding: 'utf8',
  }).trim();
  const bundle = await mkdtemp(join(tmpdir(), 'nearby-bench-bundle-'));
  try {
    execFileSync(bin, ['spec'], { cwd: bundle });
    const config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    config.root = { path: rootfs, readonly: true };
    config.process.args = ['/bin/true'];
    config.process.terminal = false;
    if (options.userns) {
      const mapping = [{ containerID: 0, hostID: 1_000_000, size: 65_536 }];
      config.linux.namespaces.push({ type: 'user' }, { type: 'cgroup' });
      config.linux.uidMappings = mapping;
      config.linux.gidMappings = mapping;
    }
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    const samples: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      execFileSync(bin, ['run', '--bundle', bundle, `nearby-bench-${process.pid}-${i}`], { stdio: 'ignore' });
      samples.push(performance.now() - started);
    }
    return { bin, samples, ...stats(samples) };
  } finally {
    await rm(bundle, { recursive: true, force: true });
  }
}
