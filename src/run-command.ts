/**
 * Runs a short-lived host command (crun, ip, nft, mount…) and collects its output: the one place
 * nearby spawns helpers, so timeouts, aborts and input behave the same everywhere.
 *
 * A long-lived process with a big heap (`nearby server`) spawns through a small helper process
 * (spawn-helper.ts, `spawnThroughHelper`): a spawn forks the caller, and a fork copies its page
 * tables, so from Node its cost grows with the caller's memory — 8–9 ms a command at 190 MB on
 * this host against 1.5 ms at 50 MB (docs/perf.md, "Spawning from a small process"), and every
 * machine start, stop and network change is a few commands.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the command was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface CommandOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Written to the command's stdin (otherwise stdin is /dev/null). */
  input?: string;
  /** The command's working directory (default: nearby's). */
  cwd?: string;
  /** In a process group of its own (a launcher whose daemon outlives nearby). */
  detached?: boolean;
  /** Stdout to /dev/null: for a command that leaves a daemon holding it (the result waits for its close). */
  discardStdout?: boolean;
}

/** A command for the spawn helper (its options but the abort, which is a message of its own), and its answer. */
export interface HelperRequest extends Omit<CommandOptions, 'signal'> {
  id: number;
  file: string;
  args: string[];
}

export type HelperReply =
  | ({ id: number } & CommandResult)
  | { id: number; error: { code: string; message: string } }
  /** Sent once, before the helper reads any request. */
  | { ready: true };

let helper: SpawnHelper | undefined;

/** From now on this process's commands are spawned by the spawn helper (started on first use). */
export function spawnThroughHelper(): void {
  helper ??= new SpawnHelper();
}

export function runCommand(
  file: string,
  args: string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return helper === undefined ? runCommandHere(file, args, options) : helper.run(file, args, options);
}

/** `runCommand` spawned from this process, helper or not (the helper's own way to run one). */
export function runCommandHere(
  file: string,
  args: string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: [
        options.input === undefined ? 'ignore' : 'pipe',
        options.discardStdout ? 'ignore' : 'pipe',
        'pipe',
      ],
      timeout: options.timeoutMs,
      cwd: options.cwd,
      signal: options.signal,
      detached: options.detached,
      killSignal: 'SIGKILL',
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      // An abort still reports through 'close'; only a failure to spawn at all rejects.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') reject(error);
    });
    child.on('close', (code, signal) => {
      resolve({
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        code,
        signal,
      });
    });
    // A command that exits before reading its input is reported by its exit code, not EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(options.input);
  });
}

const HELPER = fileURLToPath(new URL('./spawn-helper.ts', import.meta.url));

interface Pending {
  resolve(result: CommandResult): void;
  reject(error: Error): void;
  /** The same command spawned here instead (the helper never worked). */
  fallBack(): void;
  describe: string;
}

/**
 * The parent's side: one helper, started when first needed and again after it exited; it keeps
 * this process alive only while a command runs. A helper that exits before it is ready does not
 * work here: its commands, and all later ones, are spawned here as before.
 */
class SpawnHelper {
  #child: ChildProcess | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #broken = false;

  run(file: string, args: string[], options: CommandOptions): Promise<CommandResult> {
    if (options.signal?.aborted || this.#broken) return runCommandHere(file, args, options);
    const child = this.#started();
    if (child === undefined) return runCommandHere(file, args, options);
    const id = this.#nextId++;
    const request: HelperRequest = { id, file, args };
    for (const key of ['input', 'cwd', 'timeoutMs', 'detached', 'discardStdout'] as const) {
      if (options[key] !== undefined) Object.assign(request, { [key]: options[key] });
    }
    return new Promise<CommandResult>((resolve, reject) => {
      const onAbort = () => child.connected && child.send({ abort: id });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        options.signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
        if (this.#pending.size === 0) this.#idle(child);
      };
      this.#pending.set(id, {
        resolve: (result) => {
          done();
          resolve(result);
        },
        reject: (error) => {
          done();
          reject(error);
        },
        fallBack: () => {
          done();
          runCommandHere(file, args, options).then(resolve, reject);
        },
        describe: `${file} ${args.join(' ')}`,
      });
      child.ref();
      child.channel?.ref();
      try {
        child.send(request);
      } catch {
        this.#pending.get(id)?.fallBack(); // the channel closed as it was sent: nothing ran
      }
    });
  }

  #started(): ChildProcess | undefined {
    if (this.#child?.connected) return this.#child;
    let child: ChildProcess;
    try {
      child = fork(HELPER, [], {
        execArgv: ['--disable-warning=ExperimentalWarning'],
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
    } catch {
      return undefined;
    }
    let ready = false;
    child.on('message', (message: HelperReply) => {
      if ('ready' in message) {
        ready = true;
        return;
      }
      const pending = this.#pending.get(message.id);
      if (pending === undefined) return;
      if ('error' in message) {
        pending.reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
      } else {
        const { id: _id, ...result } = message;
        pending.resolve(result);
      }
    });
    child.on('error', () => {}); // a failed start ends in 'exit' too
    child.on('exit', () => {
      if (this.#child === child) this.#child = undefined;
      // Gone before it read a request: nothing it was sent ran, and it will not start next time.
      if (!ready) this.#broken = true;
      for (const pending of [...this.#pending.values()]) {
        if (!ready) pending.fallBack();
        else pending.reject(new Error(`the spawn helper exited while running ${pending.describe}`));
      }
    });
    this.#child = child;
    this.#idle(child);
    return child;
  }

  /** Nothing running: the helper must not keep this process alive. */
  #idle(child: ChildProcess): void {
    child.unref();
    child.channel?.unref();
  }
}
