/**
 * A tiny upstream DNS server on loopback (UDP and TCP on one port) for tests of forwarding: it
 * answers A questions from a table, and answers TXT `big.<anything>` with more than a datagram
 * holds, so over UDP it sets TC and only TCP gets the records. It counts what it was asked.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import dnsPacket, { type Answer, type Packet } from 'dns-packet';
import { freePort } from './registry.ts';

export interface TestUpstream {
  port: number;
  asked: { name: string; transport: 'udp' | 'tcp' }[];
  close(): void;
}

export const BIG_TXT_STRINGS = 40;

export async function startTestUpstream(addresses: Record<string, string>): Promise<TestUpstream> {
  const port = await freePort();
  const asked: TestUpstream['asked'] = [];
  const answer = (query: Buffer, transport: 'udp' | 'tcp'): Buffer => {
    const packet = dnsPacket.decode(query);
    const question = packet.questions?.[0];
    const name = question?.name ?? '';
    asked.push({ name, transport });
    const answers: Answer[] = [];
    if (question?.type === 'A' && addresses[name])
      answers.push({ type: 'A', name, ttl: 60, data: addresses[name] });
    if (question?.type === 'TXT' && name.startsWith('big.'))
      for (let index = 0; index < BIG_TXT_STRINGS; index++)
        answers.push({ type: 'TXT', name, ttl: 60, data: `string ${index} ${'x'.repeat(40)}` });
    const big = answers.length > 0 && transport === 'udp' && question?.type === 'TXT';
    const reply: Packet = {
      id: packet.id,
      type: 'response',
      flags:
        dnsPacket.RECURSION_AVAILABLE | (big ? dnsPacket.TRUNCATED_RESPONSE : 0) | (answers.length ? 0 : 3),
      questions: packet.questions,
      answers: big ? [] : answers,
    };
    return dnsPacket.encode(reply);
  };
  const udp = createSocket('udp4');
  udp.on('message', (query, peer) => udp.send(answer(query, 'udp'), peer.port, peer.address));
  await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', resolve));
  const tcp = createServer((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const reply = answer(buffered.subarray(2, 2 + buffered.readUInt16BE(0)), 'tcp');
      const length = Buffer.alloc(2);
      length.writeUInt16BE(reply.length);
      socket.end(Buffer.concat([length, reply]));
    });
  });
  await new Promise<void>((resolve) => tcp.listen({ host: '127.0.0.1', port }, resolve));
  return {
    port,
    asked,
    close() {
      udp.close();
      tcp.close();
    },
  };
}
