/**
 * Where a HAProxy that outlives nearby writes: its own messages to a file (`haproxy.log`), which
 * nearby follows into its log while it runs, and the access log to a FIFO, which nearby copies
 * to its own output while it runs. Neither can block HAProxy when nearby is gone: a file always
 * takes writes, and the FIFO is non-blocking (HAProxy drops a line it cannot write at once).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Past this size, the followed output file starts over (HAProxy appends with O_APPEND). */
const OUTPUT_MAX_BYTES = 16 * 1024 * 1024;
const FOLLOW_MS = 200;

/** Opens (creating) the file HAProxy's stdout and stderr go to. The caller closes the fd. */
export function openOutputFile(path: string): number {
  return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
}

async function ensureFifo(path: string): Promise<void> {
  const kind = await stat(path).catch(() => undefined);
  if (kind?.isFIFO()) return;
  if (kind !== undefined) await rm(path, { force: true });
  try {
    await execFileAsync('mkfifo', ['-m', '600', path]);
  } catch (error) {
    // Another caller (the relay and the spawn both ensure it) may have made it first.
    if (!(await stat(path).catch(() => undefined))?.isFIFO()) throw error;
  }
}

/** A FIFO at `path` (made if missing), opened read-write and non-blocking for HAProxy's fd 3. */
export async function openAccessLogFifo(path: string): Promise<number> {
  await ensureFifo(path);
  // Read-write: the open never waits for a reader, and writes never fail with EPIPE; non-blocking:
  // a full pipe (nearby down) makes HAProxy drop the line instead of stalling its event loop.
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

export interface Relay {
  close(): void;
}

/**
 * Copies the access-log FIFO to `fd` (nearby's own output) while nearby runs, with `cat`: a
 * process of its own, because a Node read per request line cost ~20 µs of the event loop's CPU
 * per request (docs/perf.md, "Proxy"), and cat moves each write HAProxy makes as one write (a
 * line is one atomic write up to 8 KiB, so lines never mix with nearby's own). nearby holds the
 * FIFO open for writing too, so cat never sees end-of-file while HAProxy restarts. A cat left by
 * a nearby that was killed (`pidFile`) is stopped first: two readers would split the lines.
 */
export async function relayAccessLog(fifo: string, fd: number, pidFile: string): Promise<Relay> {
  await ensureFifo(fifo);
  await stopLeftoverRelay(pidFile, fifo);
  const keepOpen = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  let closed = false;
  let child: ChildProcess | undefined;
  const start = () => {
    child = spawn('cat', [fifo], { stdio: ['ignore', fd, 'ignore'] });
    child.on('error', () => {});
    if (child.pid !== undefined) writeFile(pidFile, `${child.pid}\n`).catch(() => {});
    // Killed by someone else: start again (after a pause, so a cat that cannot run does not spin).
    child.once('exit', () => {
      if (!closed) setTimeout(start, 1000).unref();
    });
  };
  start();
  const close = () => {
    if (closed) return;
    closed = true;
    child?.kill();
    closeSync(keepOpen);
    process.off('exit', close);
  };
  process.once('exit', close);
  return { close };
}

/** Stops the relay a killed nearby left running, if any. */
export async function stopLeftoverRelay(pidFile: string, fifo: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline === `cat\0${fifo}\0`) {
    try {
      process.kill(pid);
    } catch {}
  }
}

/**
 * Follows the output file from its current end, one callback per complete line, until closed.
 * Starts the file over when it grows past OUTPUT_MAX_BYTES.
 */
export async function followOutput(path: string, onLine: (line: string) => void): Promise<Relay> {
  let offset = (await stat(path).catch(() => undefined))?.size ?? 0;
  let partial = '';
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      const size = (await stat(path)).size;
      if (size < offset) offset = 0;
      if (size > offset) {
        const file = await open(path, 'r');
        try {
          const buffer = Buffer.alloc(Math.min(size - offset, 1024 * 1024));
          const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
          offset += bytesRead;
          const text = partial + buffer.subarray(0, bytesRead).toString('utf8');
          const lines = text.split('\n');
          partial = lines.pop() ?? '';
          for (const line of lines) if (line !== '') onLine(line);
        } finally {
          await file.close();
        }
      }
      if (offset >= OUTPUT_MAX_BYTES) {
        await truncate(path, 0);
        offset = 0;
      }
    } catch {
      // The file is made again at the next launch; keep polling.
    }
    if (!closed) timer = setTimeout(poll, FOLLOW_MS).unref();
  };
  timer = setTimeout(poll, FOLLOW_MS).unref();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
