/**
 * Requests with a body too large for HAProxy's buffer (so HAProxy cannot keep it for a
 * Fly-Replay) and at most 1 MiB: HAProxy hands them to the replayer, which holds the body, sends
 * the request back into HAProxy (an internal frontend into the app's backend: the same balancing,
 * limits, checks and retries) and replays it if the answer says `Fly-Replay`. Only these requests
 * touch Node; see docs/proxy.md, "Fly-Replay bodies".
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { appOfBackend } from './access-log.ts';
import type { MachineOfServer } from './autostop-stats.ts';
import { HOP_BY_HOP } from './replay.ts';
import { BUFFERED_HEADER, REPLAY_BODY_LIMIT, SLOT_HEADER } from './replay-config.ts';
import type { ReplayRequest } from './replay-server.ts';

export { BUFFERED_HEADER } from './replay-config.ts';

/** Header pairs of a raw header list without hop-by-hop ones and those nearby adds here. */
function endToEnd(rawHeaders: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (HOP_BY_HOP.has(name) || name === 'content-length' || name === SLOT_HEADER) continue;
    pairs.push([name, rawHeaders[i + 1]]);
  }
  return pairs;
}

function readAll(request: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= REPLAY_BODY_LIMIT) chunks.push(chunk);
    });
    request.on('end', () => resolve(size <= REPLAY_BODY_LIMIT ? Buffer.concat(chunks) : undefined));
    request.on('error', reject);
  });
}

export async function forwardBuffered(
  request: IncomingMessage,
  response: ServerResponse,
  deps: {
    /** HAProxy's internal frontend (`nearby_buffered`). */
    socketPath: string;
    machineOf: MachineOfServer;
    /** Replays the request and answers the client. */
    replay: (input: ReplayRequest) => Promise<void>;
  },
): Promise<void> {
  const backend = String(request.headers[BUFFERED_HEADER] ?? '');
  const body = await readAll(request);
  if (body === undefined) {
    // HAProxy only sends declared lengths up to the limit here; a body longer than declared is refused.
    response.writeHead(413, { 'content-type': 'text/plain; charset=utf-8' });
    response.end(`413 request body over ${REPLAY_BODY_LIMIT} bytes\n`);
    return;
  }
  const headers = endToEnd(request.rawHeaders);
  await new Promise<void>((resolve, reject) => {
    const outgoing = httpRequest(
      {
        socketPath: deps.socketPath,
        method: request.method,
        path: request.url,
        headers: [...headers.flat(), 'content-length', String(body.length)],
        insecureHTTPParser: true,
      },
      (answer) => {
        const directive = answer.headers['fly-replay'];
        if (typeof directive === 'string') {
          answer.resume();
          const slot = String(answer.headers[SLOT_HEADER] ?? '');
          deps
            .replay({
              headers: headers.filter(([name]) => name !== BUFFERED_HEADER),
              body,
              method: request.method ?? 'POST',
              path: request.url ?? '/',
              source: deps.machineOf(backend, slot) ?? slot,
              sourceApp: appOfBackend(backend) ?? '',
              directive,
            })
            .then(resolve, reject);
          return;
        }
        const pairs: string[] = [];
        for (let i = 0; i < answer.rawHeaders.length; i += 2) {
          const name = answer.rawHeaders[i].toLowerCase();
          // Framing headers stay: the body is streamed through as it comes.
          const framing = name === 'transfer-encoding' || name === 'content-length';
          if (name === SLOT_HEADER || (HOP_BY_HOP.has(name) && !framing)) continue;
          pairs.push(answer.rawHeaders[i], answer.rawHeaders[i + 1]);
        }
        response.writeHead(answer.statusCode ?? 502, pairs);
        answer.pipe(response);
        answer.on('end', resolve);
        answer.on('error', reject);
      },
    );
    outgoing.setTimeout(60_000, () => outgoing.destroy(new Error('no answer within 60 s')));
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
