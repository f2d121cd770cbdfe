/**
 * DNS over TCP on one connection (RFC 1035 §4.2.2, RFC 7766): each message behind a two-byte
 * length, several queries a connection, answers written as they come; idle clients let go.
 */
import type { Socket } from 'node:net';

/** An idle TCP client is let go after this long (RFC 7766 suggests seconds, not minutes). */
const TCP_IDLE_MS = 10_000;

export function serveDnsOverTcp(
  socket: Socket,
  answer: (query: Buffer, peer: string) => Promise<Buffer | undefined> | Buffer | undefined,
  onError: (error: unknown) => void,
) {
  let buffered = Buffer.alloc(0);
  const peer = socket.remoteAddress ?? '';
  socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const query = Buffer.from(buffered.subarray(2, 2 + buffered.readUInt16BE(0)));
      buffered = buffered.subarray(2 + query.length);
      Promise.resolve()
        .then(() => answer(query, peer))
        .then((reply) => {
          if (!reply || socket.destroyed) return;
          const length = Buffer.alloc(2);
          length.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([length, reply]));
        }, onError);
    }
  });
}
