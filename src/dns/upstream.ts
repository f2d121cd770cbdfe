/**
 * Names outside `.internal` go to the host's own resolvers (its /etc/resolv.conf, or
 * `--dns-upstream`): over UDP, again over TCP when the UDP answer comes back truncated, each
 * upstream in turn. The query leaves with an id of our own, so only the upstream's answer matches.
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import { dnsError } from './errors.ts';

export interface Upstream {
  host: string;
  port: number;
}

export const UPSTREAM_TIMEOUT_MS = 2_000;

/** `1.1.1.1,[2606:4700::1111]:53,127.0.0.1:5353` → upstreams. @throws NearbyError DNS_UPSTREAM_INVALID */
export function parseUpstreams(text: string): Upstream[] {
  const upstreams = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match =
        isIP(part) === 6
          ? ([part, part] as const)
          : (/^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(part) ?? /^([0-9.]+)(?::(\d{1,5}))?$/.exec(part));
      const host = match?.[1] ?? '';
      const port = Number(match?.[2] ?? 53);
      if (isIP(host) === 0 || !(port >= 1 && port <= 65535))
        throw dnsError(
          'DNS_UPSTREAM_INVALID',
          `--dns-upstream: '${part}' is not an IP address with an optional port`,
          'give addresses such as 9.9.9.9, 127.0.0.1:5353 or [2620:fe::fe]:53, comma-separated',
        );
      return { host, port };
    });
  if (upstreams.length === 0)
    throw dnsError(
      'DNS_UPSTREAM_INVALID',
      '--dns-upstream: no address given',
      'give addresses such as 9.9.9.9',
    );
  return upstreams;
}

/** The `nameserver` lines of the host's resolv.conf (loopback ones too: the resolver runs on the host). */
export function systemUpstreams(file = '/etc/resolv.conf', exclude: readonly string[] = []): Upstream[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((line) => /^\s*nameserver\s+(\S+)\s*$/.exec(line)?.[1])
    .filter((host): host is string => host !== undefined && isIP(host) !== 0 && !exclude.includes(host))
    .map((host) => ({ host, port: 53 }));
}

/**
 * The upstream's answer to `query` (with the query's own id), over `transport` first.
 * @throws NearbyError DNS_UPSTREAM_FAILED when no upstream answered
 */
export async function forwardQuery(
  query: Buffer,
  upstreams: readonly Upstream[],
  transport: 'udp' | 'tcp',
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? UPSTREAM_TIMEOUT_MS;
  const causes: unknown[] = [];
  for (const upstream of upstreams) {
    try {
      const id = randomInt(65536);
      const ours = Buffer.from(query);
      ours.writeUInt16BE(id, 0);
      let reply =
        transport === 'udp' ? await overUdp(ours, upstream, id, timeoutMs, options.signal) : undefined;
      // TC: the answer did not fit a datagram; the same upstream gives it whole over TCP.
      if (reply === undefined || (reply[2] & 0x02) !== 0)
        reply = await overTcp(ours, upstream, id, timeoutMs, options.signal);
      reply.writeUInt16BE(query.readUInt16BE(0), 0);
      return reply;
    } catch (error) {
      causes.push(error);
    }
  }
  throw dnsError(
    'DNS_UPSTREAM_FAILED',
    `no upstream resolver answered (${upstreams.map((u) => `${u.host}:${u.port}`).join(', ') || 'none configured'})`,
    "check the host's /etc/resolv.conf or --dns-upstream",
    new AggregateError(causes),
  );
}

/** One exchange with an upstream: settles once, on the reply, an error, the timeout or `signal`. */
function exchange(
  what: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  close: () => void,
  run: (finish: (error?: Error, reply?: Buffer) => void) => void,
): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    let done = false;
    const finish = (error?: Error, reply?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      close();
      if (reply) resolve(reply);
      else reject(error);
    };
    const onAbort = () => finish(new Error('aborted'));
    const timer = setTimeout(() => finish(new Error(`${what} timed out`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    run(finish);
  });
}

function overUdp(query: Buffer, upstream: Upstream, id: number, timeoutMs: number, signal?: AbortSignal) {
  const socket = createSocket(isIP(upstream.host) === 6 ? 'udp6' : 'udp4');
  const what = `${upstream.host}:${upstream.port} over UDP`;
  return exchange(
    what,
    timeoutMs,
    signal,
    () => socket.close(),
    (finish) => {
      socket.on('error', (error) => finish(error));
      socket.on('message', (message, peer) => {
        // Anything but the upstream's answer to this id is ignored (a stray or spoofed datagram).
        if (peer.port !== upstream.port || message.length < 12 || message.readUInt16BE(0) !== id) return;
        finish(undefined, message);
      });
      socket.connect(upstream.port, upstream.host, () => socket.send(query));
    },
  );
}

function overTcp(query: Buffer, upstream: Upstream, id: number, timeoutMs: number, signal?: AbortSignal) {
  const socket = new Socket();
  const what = `${upstream.host}:${upstream.port} over TCP`;
  return exchange(
    what,
    timeoutMs,
    signal,
    () => socket.destroy(),
    (finish) => {
      let received = Buffer.alloc(0);
      socket.on('error', (error) => finish(error));
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
        const reply = Buffer.from(received.subarray(2, 2 + received.readUInt16BE(0)));
        if (reply.length < 12 || reply.readUInt16BE(0) !== id)
          finish(new Error(`${what}: answered another id`));
        else finish(undefined, reply);
      });
      socket.on('end', () => finish(new Error(`${what}: connection closed before an answer`)));
      // The query goes as it came (not re-encoded): options this code does not know pass through.
      const length = Buffer.alloc(2);
      length.writeUInt16BE(query.length);
      socket.connect(upstream.port, upstream.host, () => socket.write(Buffer.concat([length, query])));
    },
  );
}
