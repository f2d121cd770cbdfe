/**
 * The answer to a question about an `.internal` name, from a directory snapshot, without I/O.
 * Only the asker's org exists: another org's app is NXDOMAIN exactly as a name nobody has, so
 * names leak nothing across orgs. Records are AAAA (and TXT for the lists); an A question gets
 * NOERROR with no records, because a machine's IPv4 is its host's alone (NATed, reused on every
 * host) while the private IPv6 reaches it from the org's machines everywhere: answering A would
 * hand out addresses that work only by luck of placement.
 */
import type { Answer, RecordType } from 'dns-packet';
import type { Asker, Directory, NamedMachine } from './directory.ts';
import { INTERNAL_ZONE, type InternalName, parseInternalName } from './internal-names.ts';
import { type DistanceSources, nearestMachines } from './nearest.ts';

/** Seconds a resolver may keep an answer: machines start and stop often. */
export const INTERNAL_TTL = 5;

export interface InternalAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN';
  answers: Answer[];
  /** The zone's SOA when there is no answer: how long the absence may be cached (RFC 2308). */
  authorities: Answer[];
}

/** A question's answer for `asker`; `name` must be under `.internal`. */
export function internalAnswer(
  question: { name: string; type: RecordType },
  asker: Asker,
  directory: Directory,
  distances: DistanceSources = {},
): InternalAnswer {
  const parsed = parseInternalName(question.name) ?? { kind: 'unknown' };
  const found = lookup(parsed, asker, directory, distances);
  if (found === undefined) return { rcode: 'NXDOMAIN', answers: [], authorities: [soa()] };
  // The name as asked (case kept): resolvers that randomise case (0x20) compare it.
  const name = question.name.replace(/\.$/, '');
  const answers: Answer[] = [];
  if ((question.type === 'AAAA' || question.type === ('ANY' as RecordType)) && found.machines)
    for (const machine of found.machines)
      if (machine.ipv6) answers.push({ type: 'AAAA', name, ttl: INTERNAL_TTL, data: machine.ipv6 });
  if ((question.type === 'TXT' || question.type === ('ANY' as RecordType)) && found.text !== undefined)
    answers.push({ type: 'TXT', name, ttl: INTERNAL_TTL, data: txtStrings(found.text) });
  return { rcode: 'NOERROR', answers, authorities: answers.length === 0 ? [soa()] : [] };
}

/** What a name holds: addresses, a text, both empty (the name exists), or undefined (it does not). */
function lookup(
  name: InternalName,
  asker: Asker,
  directory: Directory,
  distances: DistanceSources,
): { machines?: NamedMachine[]; text?: string } | undefined {
  if (name.kind === 'unknown') return undefined;
  if (name.kind === 'apps') return { text: directory.appsOf(asker.org).join(',') };
  if (directory.appOrg(name.app) !== asker.org) return undefined;
  const all = directory.machinesOf(name.app);
  const answering = all.filter((machine) => machine.answering);
  switch (name.kind) {
    case 'app':
      return { machines: byId(answering) };
    case 'region':
      if (!directory.hasRegion(name.region)) return undefined;
      return { machines: byId(answering.filter((machine) => machine.region === name.region)) };
    case 'nearest':
      return { machines: nearestMachines(asker, answering, name.count, distances) };
    case 'vm': {
      const machine = all.find((candidate) => candidate.id === name.machine);
      if (machine === undefined) return undefined;
      return { machines: machine.answering ? [machine] : [] };
    }
    case 'vms':
      return {
        text: byId(answering)
          .map((machine) => `${machine.id} ${machine.region ?? ''}`.trim())
          .join(','),
      };
    case 'regions':
      return { text: [...new Set(answering.flatMap((machine) => machine.region ?? []))].sort().join(',') };
  }
}

const byId = (machines: NamedMachine[]) => [...machines].sort((a, b) => a.id.localeCompare(b.id));

/** A TXT record's strings hold at most 255 bytes each: a long list is cut into several (readers join them). */
export function txtStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  const parts: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 255) parts.push(bytes.subarray(offset, offset + 255));
  return parts.length === 0 ? [Buffer.alloc(0)] : parts;
}

function soa(): Answer {
  return {
    type: 'SOA',
    name: INTERNAL_ZONE,
    ttl: INTERNAL_TTL,
    data: {
      mname: `ns.${INTERNAL_ZONE}`,
      rname: `hostmaster.${INTERNAL_ZONE}`,
      serial: 1,
      refresh: 60,
      retry: 60,
      expire: 60,
      minimum: INTERNAL_TTL,
    },
  };
}
