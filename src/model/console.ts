/**
 * The console stream (`nearby ssh console`): frames between the CLI and the host agent, carried
 * unchanged through the API. A frame is a type byte, a 32-bit big-endian length and the payload.
 */

export const FRAME = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  /** Payload "ROWS COLS". */
  resize: 3,
  /** Payload: the exit code in decimal; the last frame of a session. */
  exit: 4,
  /** The client's stdin has ended. */
  eof: 5,
} as const;

export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/** What the API sends the agent first, as one JSON line; the agent answers one line of `ConsoleAnswer`. */
export interface ConsoleRequest {
  machine: string;
  command: string[];
  tty: boolean;
  rows?: number;
  cols?: number;
  env?: string[];
  /** Over TCP (a cluster host): the secret whose SHA-256 names the API's grant in the store. */
  grant?: string;
}

/**
 * `console-grants/<host>/<sha256 of the secret>`: the API's leave for one console session on a
 * host's TCP console listener, used once (the agent deletes it) and within `expires_at`.
 */
export interface ConsoleGrant {
  machine: string;
  command: string[];
  expires_at: string;
}

export type ConsoleAnswer = { ok: true } | { ok: false; code: string; message: string; status: number };

export const CONSOLE_CONTENT_TYPE = 'application/vnd.nearby.console';

export function frame(type: FrameType, payload: Buffer | string = Buffer.alloc(0)): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const head = Buffer.alloc(5);
  head[0] = type;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames, whatever the chunk boundaries. */
export class FrameReader {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): { type: number; payload: Buffer }[] {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    const frames: { type: number; payload: Buffer }[] = [];
    while (this.#pending.length >= 5) {
      const length = this.#pending.readUInt32BE(1);
      if (this.#pending.length < 5 + length) break;
      frames.push({ type: this.#pending[0], payload: this.#pending.subarray(5, 5 + length) });
      this.#pending = this.#pending.subarray(5 + length);
    }
    return frames;
  }
}
