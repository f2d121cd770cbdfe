// The guestbook: an app written the way apps for nearby (and Fly.io) are. Reads are answered in
// every region, writes are sent to the primary region with `Fly-Replay`, and a WebSocket stays
// in the region nearest its user. One file, Node's standard library only.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';

const region = process.env.NEARBY_REGION ?? process.env.FLY_REGION ?? 'local';
// `primary_region` in fly.toml becomes PRIMARY_REGION in every machine of the app.
const primary = process.env.PRIMARY_REGION ?? region;
const machine = process.env.NEARBY_MACHINE_ID ?? process.env.FLY_MACHINE_ID ?? 'local';
const port = Number(process.env.PORT ?? 8080);

// In memory: the primary's machine is the store. A replica region forwards writes there and
// shows what it has (nothing, here: a real app would read a replicated database).
const entries = [];

const server = createServer((request, response) => {
  const send = (status, body, headers = {}) => {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(`${JSON.stringify(body)}\n`);
  };
  if (request.method === 'GET' && request.url === '/') {
    return send(200, { region, primary, machine, entries });
  }
  if (request.method === 'POST' && request.url === '/entries') {
    if (region !== primary) {
      // The edge replays the whole request to the primary region; the user never sees this answer.
      return send(409, { replaying_to: primary }, { 'fly-replay': `region=${primary}` });
    }
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      const entry = { text: body.trim().slice(0, 500), at: new Date().toISOString() };
      entries.push(entry);
      send(201, { region, machine, entry });
    });
    return;
  }
  send(404, { error: `no ${request.method} ${request.url}` });
});

// WebSocket on /ws (RFC 6455), by hand: the handshake and unfragmented text frames of up to 64 KiB
// are all a chat-like client needs. It tells the client where it is served, then echoes.
server.on('upgrade', (request, socket) => {
  const key = request.headers['sec-websocket-key'];
  if (request.url !== '/ws' || typeof key !== 'string') {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`,
  );
  socket.write(frame(`hello from ${region} (${machine})`));
  let buffered = Buffer.alloc(0);
  socket.on('data', (data) => {
    buffered = Buffer.concat([buffered, data]);
    for (;;) {
      const parsed = parseFrame(buffered);
      if (!parsed) return;
      buffered = buffered.subarray(parsed.length);
      if (parsed.opcode === 0x8) return socket.end(frame('', 0x8));
      if (parsed.opcode === 0x9) socket.write(frame(parsed.payload.toString('utf8'), 0xa));
      if (parsed.opcode === 0x1) socket.write(frame(`${region}: ${parsed.payload.toString('utf8')}`));
    }
  });
  socket.on('error', () => socket.destroy());
});

/** A server frame: never masked. */
function frame(text, opcode = 0x1) {
  const payload = Buffer.from(text, 'utf8');
  const head =
    payload.length < 126
      ? Buffer.from([0x80 | opcode, payload.length])
      : Buffer.from([0x80 | opcode, 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([head, payload]);
}

/** A client frame (masked, as clients must) from the buffer's start, or undefined if incomplete. */
function parseFrame(buffer) {
  if (buffer.length < 2) return undefined;
  const opcode = buffer[0] & 0x0f;
  let length = buffer[1] & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    return { opcode: 0x8, payload: Buffer.alloc(0), length: buffer.length }; // too big: close
  }
  const masked = (buffer[1] & 0x80) !== 0;
  const mask = masked ? buffer.subarray(offset, offset + 4) : undefined;
  if (masked) offset += 4;
  if (buffer.length < offset + length) return undefined;
  const payload = Buffer.from(buffer.subarray(offset, offset + length));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  return { opcode, payload, length: offset + length };
}

server.listen(port, '0.0.0.0', () => console.log(`guestbook in ${region} (primary ${primary}) on :${port}`));
