/**
 * A tiny authoritative DNS server for one name, `_acme-challenge.<apps domain>` (UDP and TCP), so
 * the apps domain's wildcard can be validated by DNS-01: the operator delegates that name here
 * once (an NS record), and the TXT answers come from the store's `acme-challenges/` records.
 */
import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import type pino from 'pino';
import { keys } from '../model/keys.ts';
import { values } from '../store/mod.ts';
import type { Store } from '../store/types.ts';
import type { AcmeChallengeRecord } from './challenge-answers.ts';

export interface DnsResponder {
  host: string;
  port: number;
  close(): Promise<void>;
}

const TYPE_TXT = 16;
const TYPE_ANY = 255;
const RCODE = { ok: 0, formErr: 1, nxDomain: 3, notImp: 4, refused: 5 } as const;
/** Short: a challenge's value changes with every issuance. */
const TTL_SECONDS = 10;

interface Question {
  name: string;
  type: number;
  /** Where the question section ends in the query. */
  end: number;
}

/** The single question of a query (names in questions are never compressed), or undefined. */
export function parseQuestion(query: Buffer): Question | undefined {
  if (query.length < 17 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length && query[offset] !== 0) {
    const length = query[offset];
    if (length > 63 || offset + 1 + length >= query.length) return undefined;
    labels.push(query.subarray(offset + 1, offset + 1 + length).toString('latin1'));
    offset += length + 1;
  }
  if (offset + 5 > query.length) return undefined;
  return { name: labels.join('.').toLowerCase(), type: query.readUInt16BE(offset + 1), end: offset + 5 };
}

/** The answer to `query` as the authority for `zone`, with TXT values from `txts`. */
export async function dnsAnswer(
  query: Buffer,
  zone: string,
  txts: (name: string) => Promise<string[]>,
): Promise<Buffer> {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 4);
  const opcode = (query[2] >> 3) & 0x0f;
  const question = parseQuestion(query);
  // QR, the query's opcode and RD, AA: this server is the authority for the zone.
  const flags = (rcode: number, authoritative: boolean) =>
    0x8000 | (opcode << 11) | (authoritative ? 0x0400 : 0) | (query[2] & 0x01 ? 0x0100 : 0) | rcode;
  if (question === undefined || opcode !== 0) {
    header.writeUInt16BE(flags(question === undefined ? RCODE.formErr : RCODE.notImp, false), 2);
    return header;
  }
  const { name, type } = question;
  const inZone = name === zone;
  const below = name.endsWith(`.${zone}`);
  const rcode = inZone ? RCODE.ok : below ? RCODE.nxDomain : RCODE.refused;
  const answers = inZone && (type === TYPE_TXT || type === TYPE_ANY) ? await txts(name) : [];
  header.writeUInt16BE(flags(rcode, inZone || below), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  const parts = [header, query.subarray(12, question.end)];
  for (const text of answers) {
    const data = Buffer.from(text, 'ascii').subarray(0, 255);
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(TYPE_TXT, 2);
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(TTL_SECONDS, 6);
    record.writeUInt16BE(data.length + 1, 10);
    parts.push(record, Buffer.from([data.length]), data);
  }
  return Buffer.concat(parts);
}

/**
 * Serves `_acme-challenge.<domain>` on `host:port` over UDP and TCP.
 * @throws Error when the address cannot be bound (the caller says which flag to change)
 */
export async function startDnsResponder(options: {
  store: Store;
  domain: string;
  host: string;
  port: number;
  log: pino.Logger;
}): Promise<DnsResponder> {
  const { store, log } = options;
  const zone = `_acme-challenge.${options.domain.toLowerCase()}`;
  const txts = async (name: string) =>
    (await values<AcmeChallengeRecord>(store, keys.acmeChallenge('')))
      .filter((record) => record.type === 'dns-01' && record.dns_name === name && record.txt)
      .map((record) => record.txt as string);
  const reply = async (query: Buffer) => {
    const response = await dnsAnswer(query, zone, txts);
    const question = parseQuestion(query);
    if (question?.name === zone)
      log.info({ name: zone, answers: response.readUInt16BE(6) }, 'DNS-01 query answered');
    return response;
  };

  const udp = createSocket(options.host.includes(':') ? 'udp6' : 'udp4');
  udp.on('message', (query, peer) => {
    reply(query).then(
      (response) => udp.send(response, peer.port, peer.address),
      (error) => log.warn({ err: String(error) }, 'DNS query not answered'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(options.port, options.host, () => resolve());
  });
  udp.on('error', (error) => log.warn({ err: String(error) }, 'DNS responder (UDP) error'));

  // TCP: the same messages, each after a 2-byte length (RFC 1035 §4.2.2).
  const sockets = new Set<Socket>();
  const tcp = createServer((socket) => {
    sockets.add(socket);
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const query = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + query.length);
        void reply(query).then(
          (response) => {
            const length = Buffer.alloc(2);
            length.writeUInt16BE(response.length);
            if (!socket.destroyed) socket.write(Buffer.concat([length, response]));
          },
          () => socket.destroy(),
        );
      }
    });
  });
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(udp.address().port, options.host, () => resolve());
    });
  } catch (error) {
    udp.close();
    throw error;
  }
  return {
    host: options.host,
    port: udp.address().port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}
