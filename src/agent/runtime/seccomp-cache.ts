/**
 * crun compiles the seccomp profile to BPF on every start (~15–20 ms of a ~70 ms start here).
 * The profile is the same for every machine, so the filter crun compiled once (it keeps it as
 * `seccomp.bpf` in the container's state) is saved by profile hash and handed to later starts
 * through crun's `run.oci.seccomp_bpf_data` annotation, which skips the compile. runc ignores it.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const ANNOTATION = 'run.oci.seccomp_bpf_data';

interface OciConfigFile {
  annotations?: Record<string, string>;
  linux?: { seccomp?: unknown };
}

const cacheFile = (cacheDir: string, profile: unknown) =>
  join(
    cacheDir,
    `${createHash('sha256')
      .update(`${process.arch}\n${JSON.stringify(profile)}`)
      .digest('hex')}.bpf`,
  );

async function readConfig(path: string): Promise<OciConfigFile | undefined> {
  return JSON.parse(await readFile(path, 'utf8').catch(() => 'null')) ?? undefined;
}

async function writeConfig(path: string, config: OciConfigFile): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(config, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

/**
 * Adds the precompiled filter to a bundle's config.json when one is cached for its profile.
 * Returns whether the bundle now carries it.
 */
export async function useCachedSeccomp(configPath: string, cacheDir: string): Promise<boolean> {
  const config = await readConfig(configPath);
  if (config?.linux?.seccomp === undefined) return false;
  if (config.annotations?.[ANNOTATION] !== undefined) return true;
  const bpf = await readFile(cacheFile(cacheDir, config.linux.seccomp)).catch(() => undefined);
  if (bpf === undefined || bpf.length === 0) return false;
  config.annotations = { ...config.annotations, [ANNOTATION]: bpf.toString('base64') };
  await writeConfig(configPath, config);
  return true;
}

/** After a start that compiled the profile: keep crun's filter for the next starts. */
export async function saveCompiledSeccomp(
  configPath: string,
  stateDir: string,
  cacheDir: string,
): Promise<void> {
  const config = await readConfig(configPath);
  if (config?.linux?.seccomp === undefined || config.annotations?.[ANNOTATION] !== undefined) return;
  const bpf = await readFile(join(stateDir, 'seccomp.bpf')).catch(() => undefined);
  if (bpf === undefined || bpf.length === 0) return;
  await mkdir(cacheDir, { recursive: true });
  const file = cacheFile(cacheDir, config.linux.seccomp);
  await writeFile(`${file}.tmp`, bpf);
  await rename(`${file}.tmp`, file);
}
