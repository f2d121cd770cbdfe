/**
 * One query from a machine, decided without I/O: answered here (an `.internal` name, or an error),
 * or to be forwarded upstream. The asker is known by the query's source address: the bridge's
 * anti-spoofing rules (docs/network.md) tie a source address to the machine that owns it.
 */
import dnsPacket, { type Answer, type DecodedPacket, type OptAnswer, type Packet } from 'dns-packet';
import type { Directory } from './directory.ts';
import { internalAnswer } from './internal-answers.ts';
import { isInternalName } from './internal-names.ts';
import type { DistanceSources } from './nearest.ts';

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
export type Rcode = keyof typeof RCODE;

/** The UDP answer size without EDNS (RFC 1035), and the most this resolver sends with it (RFC 9715's advice). */
const PLAIN_UDP_BYTES = 512;
const EDNS_UDP_BYTES = 1232;

export type QueryOutcome =
  | { reply: Buffer; rcode: Rcode; name?: string }
  /** Not a name of ours: send `query` upstream and pass its answer back. */
  | { forward: true; name: string };

export interface QueryContext {
  directory: Directory;
  distances?: DistanceSources;
}

/** What to do with `query` from `peer`; undefined: drop it (not a DNS query at all). */
export function handleQuery(
  query: Buffer,
  peer: string,
  transport: 'udp' | 'tcp',
  context: QueryContext,
): QueryOutcome | undefined {
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    // A header we can read gets FORMERR (so the client stops waiting); anything shorter is noise.
    return query.length >= 12 ? { reply: bareReply(query, 'FORMERR'), rcode: 'FORMERR' } : undefined;
  }
  if (packet.type !== 'query') return undefined;
  const opcode = (packet as DecodedPacket & { opcode?: string }).opcode;
  if (opcode !== 'QUERY') return { reply: bareReply(query, 'NOTIMP'), rcode: 'NOTIMP' };
  const question = packet.questions?.length === 1 ? packet.questions[0] : undefined;
  if (question === undefined) return { reply: bareReply(query, 'FORMERR'), rcode: 'FORMERR' };
  const name = question.name;
  // Not an open resolver: only the machines of this host are answered at all.
  const asker = context.directory.askerAt(peer);
  if (asker === undefined)
    return { reply: encodeReply(packet, 'REFUSED', [], [], transport), rcode: 'REFUSED', name };
  if (!isInternalName(name)) return { forward: true, name };
  const answer = internalAnswer(question, asker, context.directory, context.distances);
  return {
    reply: encodeReply(packet, answer.rcode, answer.answers, answer.authorities, transport),
    rcode: answer.rcode,
    name,
  };
}

/** A reply to `query` (same id, question and RD bit), cut to the client's UDP size with TC set when it does not fit. */
export function encodeReply(
  query: DecodedPacket,
  rcode: Rcode,
  answers: Answer[],
  authorities: Answer[],
  transport: 'udp' | 'tcp',
): Buffer {
  const edns = query.additionals?.find((record): record is OptAnswer => record.type === 'OPT');
  const flags =
    dnsPacket.AUTHORITATIVE_ANSWER |
    dnsPacket.RECURSION_AVAILABLE |
    (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
    RCODE[rcode];
  const reply: Packet = {
    id: query.id,
    type: 'response',
    flags,
    questions: query.questions,
    answers,
    authorities,
    additionals: edns
      ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_BYTES } as unknown as Answer]
      : [],
  };
  const bytes = dnsPacket.encode(reply);
  const limit = edns
    ? Math.max(PLAIN_UDP_BYTES, Math.min(edns.udpPayloadSize, EDNS_UDP_BYTES))
    : PLAIN_UDP_BYTES;
  if (transport === 'tcp' || bytes.length <= limit) return bytes;
  // Too big for this UDP answer: the client asks again over TCP (RFC 7766).
  return dnsPacket.encode({
    ...reply,
    flags: flags | dnsPacket.TRUNCATED_RESPONSE,
    answers: [],
    authorities: [],
  });
}

/** Only the query's header back, with `rcode`: for queries too broken to answer properly. */
export function bareReply(query: Buffer, rcode: Rcode): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2);
  const opcodeAndRd = query[2] & 0x79;
  header.writeUInt16BE(0x8000 | (opcodeAndRd << 8) | dnsPacket.RECURSION_AVAILABLE | RCODE[rcode], 2);
  return header;
}
