/**
 * Where a HAProxy that outlives nearby writes: its own messages to a file (`haproxy.log`), which
 * nearby follows into its log while it runs, and the access log to a FIFO, which nearby copies
 * to its own output while it runs. Neither can block HAProxy when nearby is gone: a file always
 * takes writes, and the FIFO is non-blocking (HAProxy drops a line it cannot write at once).
 */
import { execFile } from 'node:child_process';
import { constants, openSync, writeSync } from 'node:fs';
import { open, rm, stat, truncate } from 'node:fs/promises';
import { Socket } from 'node:net';
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
 * Copies whole lines from the access-log FIFO to `fd` (nearby's own output) while nearby runs.
 * Chunks are cut at the last newline so a line never mixes with nearby's own log lines.
 */
export async function relayAccessLog(fifo: string, fd: number): Promise<Relay> {
  await ensureFifo(fifo);
  // Read-write again, so the reader never sees end-of-file when HAProxy restarts.
  const readFd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const socket = new Socket({ fd: readFd, readable: true, writable: false });
  const out = fd === 2 ? process.stderr : fd === 1 ? process.stdout : undefined;
  let partial = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    const text = partial + chunk;
    const end = text.lastIndexOf('\n') + 1;
    partial = text.slice(end);
    if (end === 0) return;
    if (out !== undefined) out.write(text.slice(0, end));
    else writeAll(fd, text.slice(0, end));
  });
  socket.on('error', () => {});
  return { close: () => socket.destroy() };
}

/** Another fd than stdout or stderr (library use): written as is; lines it cannot take are dropped. */
function writeAll(fd: number, text: string) {
  try {
    writeSync(fd, text);
  } catch {}
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
