/**
 * The GeoDNS's answer: for a name in the zone, the edge addresses of the region nearest the
 * asker — the EDNS client subnet when the query carries one, else the resolver's own address —
 * by the RTT matrix, its city found in the operator's networks table. An asker in no listed
 * network gets the fallback region. Regions listed without addresses are skipped.
 */
import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { RttMatrix } from '../world/matrix.ts';
import { nearestRegion } from '../world/plan.ts';
import type { NetworksTable } from './networks-table.ts';
import type { RegionEdges } from './regions-table.ts';

export interface GeoTables {
  /** The apps domain, lower case, without a trailing dot. */
  zone: string;
  networks: NetworksTable;
  regions: RegionEdges[];
  matrix: RttMatrix;
  /** Where an asker outside every listed network is sent (default: the first region listed). */
  fallback?: string;
}

export interface GeoDecision {
  /** The address the city was looked up by: the client subnet's, or the resolver's. */
  by: string;
  ecs?: string;
  city?: string;
  region?: string;
}

/** Seconds: short, so a region taken out of the table stops being answered soon. */
export const GEO_TTL_SECONDS = 5;
const CLIENT_SUBNET = 8;

/** The region for an asker at `address` (undefined: no region has an address). */
export function chooseRegion(tables: GeoTables, address: string): { city?: string; region?: string } {
  const open = tables.regions.filter((entry) => entry.addresses.length > 0).map((entry) => entry.region);
  const city = tables.networks.cityOf(address)?.city;
  if (open.length === 0) return { city };
  if (city !== undefined) return { city, region: nearestRegion(city, open, tables.matrix) };
  const fallback = tables.fallback ?? tables.regions[0].region;
  return { city, region: open.includes(fallback) ? fallback : open[0] };
}

type Opt = { code: number; ip?: string; family?: number; sourcePrefixLength?: number };

/** The reply to `query` (a DNS message) from `peer`, and what was decided (undefined: not a question in the zone). */
export function geoAnswer(
  query: Buffer,
  tables: GeoTables,
  peer: string,
): { reply: Buffer; name?: string; decision?: GeoDecision } {
  let packet: dnsPacket.DecodedPacket;
  try {
    packet = dnsPacket.decode(query);
  } catch {
    return { reply: bareReply(query, 1) }; // FORMERR
  }
  const question = packet.questions?.[0];
  // The reply keeps the query's opcode and RD bits (dns-packet encodes `flags` as given).
  const rd = (packet.flags ?? 0) & (0x7800 | dnsPacket.RECURSION_DESIRED);
  const opcode = (packet as { opcode?: string }).opcode;
  const base = { type: 'response' as const, id: packet.id, questions: packet.questions };
  if (opcode !== 'QUERY' || question === undefined || packet.questions?.length !== 1)
    return { reply: dnsPacket.encode({ ...base, flags: rd | (opcode !== 'QUERY' ? 4 : 1) }) }; // NOTIMP, FORMERR
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const zone = tables.zone;
  if (name !== zone && !name.endsWith(`.${zone}`))
    return { reply: dnsPacket.encode({ ...base, flags: rd | 5 }), name }; // REFUSED: not ours
  const opt = packet.additionals?.find((record) => record.type === 'OPT') as
    | { options?: Opt[]; udpPayloadSize?: number }
    | undefined;
  const subnet = opt?.options?.find((option) => option.code === CLIENT_SUBNET && option.ip);
  const by = subnet?.ip ?? peer.replace(/^::ffff:(?=\d+\.)/, '');
  const { city, region } = chooseRegion(tables, by);
  const addresses = tables.regions.find((entry) => entry.region === region)?.addresses ?? [];
  const wanted =
    question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : (question.type as string) === 'ANY' ? 0 : -1;
  const answers = addresses
    .filter((address) => wanted === 0 || isIP(address) === wanted)
    .map((address) => ({
      type: (isIP(address) === 4 ? 'A' : 'AAAA') as 'A' | 'AAAA',
      name: question.name,
      ttl: GEO_TTL_SECONDS,
      data: address,
    }));
  // RFC 7871: echo the client subnet, with the scope the answer holds for (the source's own).
  const additionals = opt
    ? [
        {
          type: 'OPT' as const,
          name: '.',
          udpPayloadSize: 1232,
          flags: 0,
          options: subnet
            ? [
                {
                  code: CLIENT_SUBNET,
                  family: subnet.family,
                  sourcePrefixLength: subnet.sourcePrefixLength,
                  scopePrefixLength: subnet.sourcePrefixLength,
                  ip: subnet.ip,
                },
              ]
            : [],
        },
      ]
    : [];
  const reply = dnsPacket.encode({
    ...base,
    flags: rd | dnsPacket.AUTHORITATIVE_ANSWER,
    answers,
    additionals,
  } as dnsPacket.Packet);
  return {
    reply,
    name,
    decision: { by, ecs: subnet ? `${subnet.ip}/${subnet.sourcePrefixLength}` : undefined, city, region },
  };
}

/** A header-only reply with `rcode`, for a query too broken to decode. */
function bareReply(query: Buffer, rcode: number): Buffer {
  const header = Buffer.alloc(12);
  if (query.length >= 2) query.copy(header, 0, 0, 2);
  header.writeUInt16BE(0x8000 | rcode, 2);
  return header;
}
