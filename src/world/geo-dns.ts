/**
 * The world's GeoDNS: answers `<app>.<apps domain>` with the edge addresses (every host's proxy)
 * of the region nearest the asking client's city by the RTT matrix, the city known from the /24
 * the query comes from. Other types in the zone get an empty answer, names outside it REFUSED.
 * Every namespace of the world resolves through it (its resolv.conf), as a user's ISP resolver would.
 */
import { createSocket } from 'node:dgram';
import { parseQuestion } from '../certs/dns-responder.ts';
import type { RttMatrix } from './matrix.ts';
import { cityOfAddress, nearestRegion, type WorldPlan } from './plan.ts';

const TYPE_A = 1;
const TYPE_ANY = 255;
const TTL_SECONDS = 5;

/** The addresses to answer a client at `peer` with: the edges of its nearest region. */
export function edgesFor(
  plan: WorldPlan,
  matrix: RttMatrix,
  peer: string,
): { region: string; addresses: string[] } {
  const regions = [...new Set(plan.hosts.map((host) => host.region))];
  const city = cityOfAddress(plan, peer);
  const region = city === undefined ? regions[0] : nearestRegion(city, regions, matrix);
  return {
    region,
    addresses: plan.hosts.filter((host) => host.region === region).map((host) => host.address),
  };
}

/** The reply to `query` from `peer`, or a FORMERR/REFUSED header. */
export function geoAnswer(query: Buffer, plan: WorldPlan, matrix: RttMatrix, peer: string): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, Math.min(4, query.length));
  const question = parseQuestion(query);
  const opcode = query.length > 2 ? (query[2] >> 3) & 0x0f : 0;
  const flags = (rcode: number, authoritative: boolean) =>
    0x8000 | (opcode << 11) | (authoritative ? 0x0400 : 0) | (query[2] & 0x01 ? 0x0100 : 0) | rcode;
  if (question === undefined || opcode !== 0) {
    header.writeUInt16BE(flags(question === undefined ? 1 : 4, false), 2);
    return header;
  }
  const zone = plan.options.appsDomain.toLowerCase();
  const inZone = question.name === zone || question.name.endsWith(`.${zone}`);
  header.writeUInt16BE(flags(inZone ? 0 : 5, inZone), 2);
  header.writeUInt16BE(1, 4);
  const addresses =
    inZone && (question.type === TYPE_A || question.type === TYPE_ANY)
      ? edgesFor(plan, matrix, peer).addresses
      : [];
  header.writeUInt16BE(addresses.length, 6);
  const parts = [header, query.subarray(12, question.end)];
  for (const address of addresses) {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(TTL_SECONDS, 6);
    record.writeUInt16BE(4, 10);
    address.split('.').forEach((octet, index) => {
      record[12 + index] = Number(octet);
    });
    parts.push(record);
  }
  return Buffer.concat(parts);
}

/** Serves on `<gateway>:53` (UDP) until `signal` aborts; logs one line per answer. */
export async function serveGeoDns(
  plan: WorldPlan,
  matrix: RttMatrix,
  signal: AbortSignal,
  log: (line: string) => void,
) {
  const udp = createSocket('udp4');
  udp.on('message', (query, peer) => {
    const reply = geoAnswer(query, plan, matrix, peer.address);
    const question = parseQuestion(query);
    if (question) {
      const { region } = edgesFor(plan, matrix, peer.address);
      log(`${peer.address} (${cityOfAddress(plan, peer.address) ?? 'outside'}) ${question.name} → ${region}`);
    }
    udp.send(reply, peer.port, peer.address);
  });
  udp.on('error', (error) => log(`dns error: ${error.message}`));
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(53, plan.gateway, () => resolve());
  });
  log(`dns ready on ${plan.gateway}:53`);
  await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  udp.close();
}
