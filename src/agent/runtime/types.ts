/**
 * The runtime driver contract (DESIGN.md §3): one interface for containers (crun/runc) and, later,
 * microVMs. The agent decides *what* runs; a driver only knows *how* to run it.
 */

export interface ProcessSpec {
  /** argv[0] is the program (absolute path inside the rootfs, or a name looked up in PATH). */
  args: string[];
  /** `KEY=value` strings. */
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  /** init.tty: the process gets a terminal; what it writes there is logged as stdout. */
  tty?: boolean;
}

export interface SandboxSpec {
  /** Machine id: names the sandbox, its cgroup and its state directory. */
  id: string;
  /** The image's unpacked rootfs: shared by every machine of the image, never written to. */
  imageRootfs: string;
  /** The machine's own directory (bundle, copy-on-write layer, logs). Survives stop/start. */
  dir: string;
  process: ProcessSpec;
  hostname: string;
  /** `cpuKind` (guest.cpu_kind): `performance` machines get four times the CPU weight of `shared`
   *  ones, so they run first when the host is busy; both are capped at `cpus` cores. */
  resources: { cpus: number; memoryMb: number; pids: number; cpuKind?: 'shared' | 'performance' };
  /** Path of the network namespace to join (`/run/netns/<name>`), made by the network part. */
  netnsPath: string;
  /** Files written into the machine's root before it starts (machine config `files`, /etc/hosts…). */
  files: { path: string; content: string | Buffer; mode?: number }[];
  /** Host directories bind-mounted into the machine (volumes), read-write. */
  mounts?: { source: string; destination: string }[];
  /** Which runtime runs it (machine config `runtime`); the host default when absent. */
  runtime?: 'container' | 'microvm';
}

export type SandboxState = 'absent' | 'created' | 'running' | 'paused' | 'stopped';

export interface ExitInfo {
  exitCode: number;
  /** Set when the process was killed by a signal (exitCode is then 128 + signal number). */
  signal?: string;
  oomKilled: boolean;
  at: Date;
}

export interface SandboxInfo {
  state: SandboxState;
  pid?: number;
  /** Present once the process has exited and until the next start. */
  exit?: ExitInfo;
}

export interface StopOptions {
  /** Signal sent first (default SIGTERM); SIGKILL follows after `timeoutMs`. */
  signal?: string;
  timeoutMs?: number;
  /**
   * The machine is likely started again soon (stopped for being idle: the next request wakes it):
   * a runtime may get its next start ready now, off that request's path (crun: the container
   * created ahead, docs/scale-to-zero.md).
   */
  startsAgain?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface SandboxStats {
  cpuUsageUsec: number;
  memoryBytes: number;
  pids: number;
}

/** A command running interactively in a sandbox (`nearby ssh console`). */
export interface ConsoleProcess {
  stdin: NodeJS.WritableStream;
  /** With a terminal, stdout carries both streams (a terminal has one output). */
  stdout: NodeJS.ReadableStream;
  stderr: NodeJS.ReadableStream;
  /** Sets the terminal's window size (no-op without one). */
  resize(rows: number, cols: number): void;
  /** Resolves with the command's exit code (128 + signal number when killed). */
  exited: Promise<number>;
  /** Ends the session: the command gets SIGHUP (terminal) or SIGKILL. */
  kill(): void;
}

export interface ConsoleOptions {
  tty: boolean;
  rows?: number;
  cols?: number;
  /** `KEY=value` strings added to the command's environment (TERM…). */
  env?: string[];
}

export interface RuntimeDriver {
  readonly name: string;
  /** What machines it can run (`container`, `microvm`; several when it dispatches), for the scheduler. */
  readonly kinds?: string[];
  /** Creates everything a start needs (bundle, copy-on-write root). Idempotent; kept while stopped. */
  prepare(spec: SandboxSpec, signal?: AbortSignal): Promise<void>;
  /** Starts the prepared sandbox; resolves once the process runs. Its stdout/stderr go to `logPath(id)`. */
  start(id: string): Promise<{ pid: number }>;
  /** Signals the process, waits up to `timeoutMs`, then kills it. Resolves with how it exited. */
  stop(id: string, options?: StopOptions): Promise<ExitInfo | undefined>;
  /** Freezes every process of the sandbox, keeping its memory. */
  suspend(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  /** Sends a signal without waiting. */
  kill(id: string, signal: string): Promise<void>;
  /** Removes the sandbox and everything `prepare` made. Idempotent; kills a running process. */
  destroy(id: string): Promise<void>;
  /** Current state, read from the runtime (works for sandboxes started by an earlier process). */
  inspect(id: string): Promise<SandboxInfo>;
  /** Ids of every sandbox this driver knows on the host (to re-adopt them after a restart). */
  list(): Promise<string[]>;
  exec(
    id: string,
    args: string[],
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<ExecResult>;
  stats(id: string): Promise<SandboxStats>;
  /** Starts an interactive command in a running sandbox; optional: drivers without it refuse consoles. */
  console?(id: string, args: string[], options: ConsoleOptions): Promise<ConsoleProcess>;
  /** File the sandbox's stdout/stderr are written to, in CRI log format
   *  (`<RFC3339Nano> <stdout|stderr> <F|P> <text>`), appended across starts. */
  logPath(id: string): string;
}
