/**
 * Routing controls apps rely on (Fly-compatible): the `Fly-Replay` response header and the
 * `fly-*-instance-id` / `fly-*-region` request headers. Pure rules here: parsing a directive and
 * picking the machine; replay-server.ts does the HTTP.
 */

export interface ReplayDirective {
  /** Regions asked for, in order of preference. */
  regions: string[];
  instance?: string;
  app?: string;
  elsewhere: boolean;
  state?: string;
}

/** `region=fra,ams;instance=…;app=…;elsewhere=true;state=…` (`;` or `,` between fields as Fly accepts). */
export function parseReplay(header: string): ReplayDirective {
  const directive: ReplayDirective = { regions: [], elsewhere: false };
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    const key = part.slice(0, index).trim().toLowerCase();
    const value = part.slice(index + 1).trim();
    if (key === 'region')
      directive.regions.push(
        ...value
          .split(',')
          .map((r) => r.trim())
          .filter(Boolean),
      );
    else if (key === 'instance') directive.instance = value;
    else if (key === 'app') directive.app = value;
    else if (key === 'elsewhere') directive.elsewhere = value === 'true';
    else if (key === 'state') directive.state = value;
  }
  return directive;
}

export interface Candidate {
  id: string;
  region: string;
  address: string;
  port: number;
  /** How near (placement.ts): with no region asked for, the nearest tier is picked. */
  tier?: number;
  /** Reached through its host's proxy, at this backhaul. */
  via?: { host: string; port: number };
}

export type Pick = { target: Candidate } | { status: number; message: string };

/**
 * The machine a replay (or a request with `fly-force-instance-id` & co) goes to. Within one
 * region `region=` means this region; other regions are reached through their proxy (not here).
 */
export function pickTarget(
  candidates: Candidate[],
  want: {
    instance?: string;
    forceInstance: boolean;
    regions: string[];
    forceRegion: boolean;
    exclude?: string;
  },
  app: string,
  random = Math.random,
): Pick {
  let pool = candidates;
  if (want.instance !== undefined) {
    const match = pool.find((candidate) => candidate.id === want.instance);
    if (match) return { target: match };
    if (want.forceInstance) {
      return {
        status: 503,
        message: `instance ${want.instance} of app ${app} is not running or does not exist`,
      };
    }
  }
  if (want.regions.length > 0) {
    const inRegion = pool.filter((candidate) => want.regions.includes(candidate.region));
    if (inRegion.length > 0) pool = inRegion;
    else if (want.forceRegion) {
      return {
        status: 503,
        message: `app ${app} has no running machine in region ${want.regions.join(', ')}`,
      };
    }
  }
  if (want.exclude !== undefined) pool = pool.filter((candidate) => candidate.id !== want.exclude);
  if (pool.length === 0)
    return { status: 503, message: `app ${app} has no other running machine to replay to` };
  const nearest = Math.min(...pool.map((candidate) => candidate.tier ?? 0));
  pool = pool.filter((candidate) => (candidate.tier ?? 0) === nearest);
  return { target: pool[Math.floor(random() * pool.length)] };
}

/** Headers that belong to one connection, never forwarded. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
]);

/** RFC 9110's token: what a header name may be made of. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** A header value Node will send: no control byte but tab (RFC 9110's field-vchar, SP and HTAB). */
const isFieldValue = (value: string) =>
  [...value].every((char) => char === '\t' || (char >= ' ' && char !== '\x7f' && char <= '\xff'));

/**
 * HAProxy's `req.hdrs` block (`name: value` lines) as header pairs, hop-by-hop ones left out, and
 * lines that are no header at all (a name that is not a token, a control byte in the value):
 * sending those on would fail the replay.
 */
export function parseHeaderBlock(block: string): [string, string][] {
  const pairs: [string, string][] = [];
  for (const line of block.split(/\r?\n/)) {
    const index = line.indexOf(':');
    if (index <= 0) continue;
    const name = line.slice(0, index).trim().toLowerCase();
    const value = line.slice(index + 1).trim();
    if (TOKEN.test(name) && isFieldValue(value) && !HOP_BY_HOP.has(name)) pairs.push([name, value]);
  }
  return pairs;
}

/** What the replayed request (and its answer) carry: where it came from, Fly's format. */
export function replaySource(instance: string, region: string, state: string | undefined, now = Date.now()) {
  return [
    `instance=${instance}`,
    `region=${region}`,
    `t=${now * 1000}`,
    ...(state ? [`state=${state}`] : []),
  ].join(';');
}
