/**
 * Fuzz target: the machines' resolver (src/dns/), as the agent runs it, on loopback. Each input
 * is one DNS message, sent as a datagram from a machine's address, as a framed message on a TCP
 * connection, and as the raw bytes of a TCP stream. Properties: every message with a full header
 * that is a query gets an answer over UDP and over TCP, with its id and the QR bit set; nothing
 * crashes; and after every few inputs, `web.internal` is still answered right over both transports.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket, { type Packet, type RecordType } from 'dns-packet';
import { pino } from 'pino';
import { startMachineResolver } from '../../../src/dns/mod.ts';
import { type AppRecord, type HostRecord, keys, type MachineStatus } from '../../../src/model/mod.ts';
import { SqliteStore } from '../../../src/store/mod.ts';
import { freePort } from '../../helpers/registry.ts';
import { byteMutations, type Mutation, mutateWith } from '../mutate.ts';
import type { FuzzTarget, Harness } from '../runner.ts';

/** Generous: a busy test host must not pass for a resolver that drops queries. */
const ANSWER_TIMEOUT_MS = 10_000;
const NAMES = [
  'web.internal',
  'WeB.InTeRnAl.',
  '_apps.internal',
  'fra.web.internal',
  'vms.web.internal',
  'regions.web.internal',
  'top1.nearest.of.web.internal',
  'top99999999999999999999.nearest.of.web.internal',
  'm1.vm.web.internal',
  'rival.internal',
  'internal',
  '.internal',
  'example.com',
  '',
  '.',
  'a..internal',
  `${'a'.repeat(63)}.internal`,
  `${'x.'.repeat(120)}internal`,
];
const TYPES: RecordType[] = ['A', 'AAAA', 'TXT', 'SRV', 'PTR', 'ANY' as RecordType, 'SOA', 'NS', 'OPT'];

const status = (id: string, app: string, ipv4: string, ipv6: string) =>
  ({
    id,
    app,
    state: 'started',
    ipv4,
    private_ip: ipv6,
    instance_id: 'v1',
    seq: 1,
    restarts: 0,
    events: [],
    updated_at: '',
  }) as unknown as MachineStatus;

/** A query built from the dictionary: questions, flags, opcode and EDNS as a client might send. */
const structuredQuery: Mutation = (_input, rng, context) => {
  const packet: Packet = {
    type: rng.chance(0.9) ? 'query' : 'response',
    id: rng.int(65536),
    flags: rng.chance(0.5) ? dnsPacket.RECURSION_DESIRED : rng.int(65536) & ~0x8000,
    questions: Array.from({ length: rng.chance(0.8) ? 1 : rng.int(4) }, () => ({
      name: rng.pick(context.dictionary),
      type: rng.pick(TYPES),
      class: rng.chance(0.9) ? 'IN' : rng.pick(['CH', 'ANY', 'HS'] as const),
    })),
    additionals: rng.chance(0.3)
      ? [{ type: 'OPT', name: '.', udpPayloadSize: rng.pick([0, 512, 1232, 4096, 65535]) } as never]
      : [],
  };
  try {
    return dnsPacket.encode(packet);
  } catch {
    return rng.bytes(12 + rng.int(40));
  }
};

/** Label tricks dns-packet's encoder would not write: compression pointers, long labels. */
const rawTricks: Mutation = (input, rng) => {
  const out = Buffer.from(input.length >= 12 ? input : Buffer.concat([input, Buffer.alloc(12)]));
  const tricks = [
    Buffer.from([0xc0, 0x0c]), // a pointer to the question itself: a loop
    Buffer.from([0xc0, 0xff]), // a pointer past the end
    Buffer.from([0x3f, ...Buffer.alloc(63, 0x61)]), // a label of 63
    Buffer.from([0x40, 0x61]), // a label length over 63
    Buffer.from([0x00, 0x00, 0x1c, 0x00, 0x01]), // root name, AAAA IN
  ];
  const at = 12 + rng.int(out.length - 11);
  return Buffer.concat([out.subarray(0, at), rng.pick(tricks), out.subarray(at)]);
};

function askUdp(socket: UdpSocket, port: number, query: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: Buffer) => {
      if (message.length >= 2 && message.readUInt16BE(0) !== query.readUInt16BE(0)) return;
      clearTimeout(timer);
      socket.off('message', onMessage);
      resolve(message);
    };
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      reject(new Error(`no UDP answer within ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    socket.on('message', onMessage);
    socket.send(query, port, '127.0.0.1');
  });
}

/** Writes `bytes` on a fresh connection; with `expect`, waits for one framed answer. */
function overTcp(port: number, bytes: Buffer, expect: boolean): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    const done = (error?: Error, answer?: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer);
    };
    const timer = setTimeout(
      () => done(expect ? new Error(`no TCP answer within ${ANSWER_TIMEOUT_MS} ms`) : undefined),
      ANSWER_TIMEOUT_MS,
    );
    socket.on('error', (error) => done(expect ? error : undefined));
    socket.on('close', () => done(expect ? new Error('the resolver closed the TCP connection') : undefined));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0))
        done(undefined, received.subarray(2, 2 + received.readUInt16BE(0)));
    });
    socket.connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (!expect) done();
    });
  });
}

function checkAnswer(query: Buffer, answer: Buffer, transport: string): string {
  assert.ok(answer.length >= 12, `${transport}: the answer has a header`);
  assert.equal(answer.readUInt16BE(0), query.readUInt16BE(0), `${transport}: the answer has the query's id`);
  assert.ok(answer[2] & 0x80, `${transport}: the answer is a response`);
  return ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'][answer[3] & 0x0f] ?? 'rcode?';
}

/** Counts of the sections and the TC bit: `qd1 an2 ns0 tc0`. */
function answerShape(answer: Buffer): string {
  const count = (offset: number) => Math.min(answer.readUInt16BE(offset), 3);
  return `qd${count(4)} an${count(6)} ns${count(8)} ar${count(10)} tc${(answer[2] >> 1) & 1}`;
}

export const dnsResolverTarget: FuzzTarget = {
  name: 'dns-resolver',
  ext: 'bin',
  async start(): Promise<Harness> {
    const dir = mkdtempSync(join(tmpdir(), 'nearby-fuzz-dns-'));
    const store = new SqliteStore(join(dir, 'state.db'));
    const controller = new AbortController();
    await store.put(keys.app('web'), { name: 'web', org_slug: 'acme' } as AppRecord);
    await store.put(keys.app('rival'), { name: 'rival', org_slug: 'other' } as AppRecord);
    const now = new Date().toISOString();
    await store.put(keys.host('h1'), { name: 'h1', region: 'fra', heartbeat_at: now } as HostRecord);
    await store.put(keys.machineStatus('h1', 'asker'), status('asker', 'web', '127.0.0.1', 'fdaa::2'));
    await store.put(keys.machineStatus('h1', 'm1'), status('m1', 'web', '10.9.0.4', 'fdaa::4'));
    await store.put(keys.machineStatus('h1', 'r1'), status('r1', 'rival', '10.9.0.5', 'fdaa::5'));
    const port = await freePort();
    await startMachineResolver({
      store,
      host: 'h1',
      region: 'fra',
      listen: ['127.0.0.1'],
      port,
      // Names outside .internal get SERVFAIL at once: the fuzzer tests the resolver, not the Internet.
      upstreams: [],
      signal: controller.signal,
      log: pino({ level: 'silent' }),
    });
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    // Queries with an odd id come from an address no machine has: the resolver refuses those.
    const stranger = createSocket('udp4');
    await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.2', resolve));
    const liveness = dnsPacket.encode({
      type: 'query',
      id: 4242,
      questions: [{ name: 'web.internal', type: 'AAAA' }],
    });
    const stillAnswers = async () => {
      for (const answer of [
        await askUdp(udp, port, liveness),
        (await overTcp(port, dnsPacket.streamEncode(dnsPacket.decode(liveness)), true))!,
      ]) {
        const addresses = (dnsPacket.decode(answer).answers ?? [])
          .map((record) => String((record as { data?: unknown }).data))
          .sort();
        assert.deepEqual(addresses, ['fdaa::2', 'fdaa::4'], 'the resolver still answers web.internal');
      }
    };
    await stillAnswers();
    const dictionary = NAMES;
    const seeds = NAMES.flatMap((name) =>
      (['A', 'AAAA', 'TXT'] as RecordType[]).map((type) =>
        dnsPacket.encode({
          type: 'query',
          id: 7,
          flags: dnsPacket.RECURSION_DESIRED,
          questions: [{ name, type }],
        }),
      ),
    );
    let inputs = 0;
    return {
      dictionary,
      seeds,
      mutate: (input, rng, context) =>
        rng.chance(0.2)
          ? structuredQuery(input, rng, context)
          : mutateWith(input, rng, context, [...byteMutations, rawTricks, rawTricks]),
      async run(input) {
        // A DNS message is at most 65535 bytes (TCP's length prefix); a datagram a little less.
        const query = input.subarray(0, 65_000);
        const expect = query.length >= 12 && (query[2] & 0x80) === 0;
        let outcome = 'dropped';
        const from = query.length >= 2 && query[1] & 1 ? stranger : udp;
        if (expect) {
          const answer = await askUdp(from, port, query);
          outcome = `${checkAnswer(query, answer, 'udp')} ${from === udp ? 'machine' : 'stranger'} ${answerShape(answer)}`;
          const length = Buffer.alloc(2);
          length.writeUInt16BE(query.length);
          checkAnswer(query, (await overTcp(port, Buffer.concat([length, query]), true))!, 'tcp');
        } else {
          from.send(query, port, '127.0.0.1');
        }
        await overTcp(port, query, false); // the bytes as a raw stream, framing and all
        if (++inputs % 20 === 0) await stillAnswers();
        return outcome;
      },
      async close() {
        await stillAnswers();
        udp.close();
        stranger.close();
        controller.abort();
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
