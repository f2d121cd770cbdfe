/**
 * Runs buildah with nearby's own storage (vfs driver, so no fuse or overlay mounts are needed and a
 * plain `rm -r` cleans it), streaming its output line by line as it happens.
 */
import { spawn } from 'node:child_process';
import { buildErrors } from './errors.ts';

export interface BuildahStorage {
  /** Images and layers (buildah's `--root`). */
  root: string;
  /** Locks and runtime state (buildah's `--runroot`). */
  runroot: string;
}

export interface BuildahRun {
  code: number | null;
  /** The last lines it printed, for error messages. */
  tail: string;
}

const TAIL_LINES = 15;

export function buildahArgs(storage: BuildahStorage, args: string[]): string[] {
  return ['--root', storage.root, '--runroot', storage.runroot, '--storage-driver', 'vfs', ...args];
}

/** @throws NearbyError BUILDAH_MISSING when buildah is not installed. */
export function runBuildah(
  storage: BuildahStorage,
  args: string[],
  options: { onLine: (line: string) => void; env?: NodeJS.ProcessEnv; signal?: AbortSignal },
): Promise<BuildahRun> {
  return new Promise((resolve, reject) => {
    const child = spawn('buildah', buildahArgs(storage, args), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      signal: options.signal,
    });
    const tail: string[] = [];
    let partial = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = partial[stream] + chunk.toString('utf8');
      const lines = text.split(/\r?\n|\r/);
      partial = { ...partial, [stream]: lines.pop() ?? '' };
      for (const line of lines) emit(line);
    };
    const emit = (line: string) => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      options.onLine(line);
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    child.on('error', (error) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(buildErrors.buildahMissing());
    });
    child.on('close', (code) => {
      emit(partial.stdout);
      emit(partial.stderr);
      resolve({ code, tail: tail.join('\n') });
    });
  });
}
