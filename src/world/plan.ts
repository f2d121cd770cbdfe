/**
 * The world's layout, decided without touching the system: a /24 per city on one /16, a network
 * namespace per region host and per client city, the delay every namespace puts on packets to
 * each other city (half the pair's RTT: the other side delays the way back), and where NATS,
 * the API and the registry run. `up` makes what this plans; tests check the plan without root.
 */
import { worldError } from './errors.ts';
import type { RttMatrix } from './matrix.ts';

export interface WorldOptions {
  regions: string[];
  clients: string[];
  hostsPerRegion: number;
  /** A short name (letters and digits) in every interface and namespace the world makes. */
  name: string;
  /** The second octet of the world's `10.X.0.0/16`. */
  octet: number;
  appsDomain: string;
  /** How clients reach the edges: GeoDNS answers (default), or one Anycast address by BGP. */
  reach?: 'dns' | 'anycast';
  /** Each host runs `nearby agent` and `nearby proxy` as two processes, not one `nearby node`. */
  splitParts?: boolean;
  /** Each host's data dir on its own filesystem of this many MB (host-disks.ts); else this host's. */
  hostDiskMb?: number;
}

export interface PlannedNamespace {
  netns: string;
  city: string;
  kind: 'host' | 'client';
  address: string;
  /** The veth's end on the world bridge (the namespace's end is eth0). */
  veth: string;
  /** `queue:delay_us` per other city, and the network each queue catches. */
  delays: { queue: number; network: string; delayUs: number; city: string }[];
}

export interface PlannedHost extends PlannedNamespace {
  kind: 'host';
  /** Unique in the cluster: `<region>-<n>`. */
  hostName: string;
  region: string;
  /** The bridge for its machines (inside its namespace; unique, as `nearby host clean` may look). */
  machineBridge: string;
}

export interface WorldPlan {
  options: WorldOptions;
  bridge: string;
  /** This host's address on the world bridge (no delay: the operator's own seat). */
  gateway: string;
  network: string;
  cities: string[];
  hosts: PlannedHost[];
  clients: PlannedNamespace[];
  /** Hosts that run a NATS node (the first host of up to three regions). */
  natsHosts: PlannedHost[];
  /** Where the API runs: the first region's first host. */
  apiHost: PlannedHost;
  /** With `reach: 'anycast'`: the edge address every host announces (outside the /16: no ARP reaches it). */
  anycast?: { address: string; edgeAs: number; ispAs: number };
}

const CITY = /^[a-z]{3}$/;
const NAME = /^[a-z0-9]{1,5}$/;

export const ports = { api: 4280, registry: 5050, nats: 4222, natsCluster: 6222, natsMonitor: 8222 } as const;

/** @throws NearbyError WORLD_INVALID, WORLD_UNKNOWN_CITY, WORLD_MISSING_PAIR */
export function planWorld(options: WorldOptions, matrix: RttMatrix): WorldPlan {
  const { regions, clients, hostsPerRegion, name, octet } = options;
  if (regions.length === 0)
    throw worldError('WORLD_INVALID', 'give at least one region', 'e.g. --regions iad,fra');
  for (const city of [...regions, ...clients])
    if (!CITY.test(city))
      throw worldError('WORLD_INVALID', `'${city}' is not a city code`, 'three letters, e.g. syd');
  for (const list of [regions, clients])
    if (new Set(list).size !== list.length)
      throw worldError('WORLD_INVALID', `a city is listed twice: ${list}`);
  if (!Number.isInteger(hostsPerRegion) || hostsPerRegion < 1 || hostsPerRegion > 8)
    throw worldError('WORLD_INVALID', '--hosts-per-region must be 1 to 8');
  const { hostDiskMb } = options;
  if (hostDiskMb !== undefined && (!Number.isInteger(hostDiskMb) || hostDiskMb < 64))
    throw worldError('WORLD_INVALID', '--host-disk-mb must be a whole number of MB, at least 64');
  if (!NAME.test(name))
    throw worldError('WORLD_INVALID', `world name '${name}' must be 1-5 letters or digits`);
  if (!Number.isInteger(octet) || octet < 1 || octet > 254)
    throw worldError('WORLD_INVALID', 'the octet must be 1-254');
  const cities = [...new Set([...regions, ...clients])];
  if (cities.length > 60) throw worldError('WORLD_INVALID', 'at most 60 cities');
  // Every pair must be in the matrix before anything is made.
  for (const a of cities) for (const b of cities) matrix.rtt(a, b);

  const prefix = `10.${octet}`;
  const cityIndex = (city: string) => cities.indexOf(city) + 1;
  const delaysFrom = (city: string) =>
    cities
      .filter((other) => other !== city)
      .map((other) => ({
        queue: cityIndex(other),
        network: `${prefix}.${cityIndex(other)}.0/24`,
        delayUs: Math.round((matrix.rtt(city, other).ms * 1000) / 2),
        city: other,
      }));
  let vethIndex = 0;
  const hosts: PlannedHost[] = [];
  for (const region of regions)
    for (let n = 1; n <= hostsPerRegion; n++) {
      vethIndex++;
      hosts.push({
        netns: `nbw${name}-${region}-${n}`,
        city: region,
        kind: 'host',
        address: `${prefix}.${cityIndex(region)}.${9 + n}`,
        veth: `nbw${name}v${vethIndex}`,
        delays: delaysFrom(region),
        hostName: `${region}-${n}`,
        region,
        machineBridge: `nbw${name}m${vethIndex}`,
      });
    }
  const clientSpaces: PlannedNamespace[] = clients.map((city) => {
    vethIndex++;
    return {
      netns: `nbw${name}-c-${city}`,
      city,
      kind: 'client',
      address: `${prefix}.${cityIndex(city)}.100`,
      veth: `nbw${name}v${vethIndex}`,
      delays: delaysFrom(city),
    };
  });
  const natsHosts = regions
    .slice(0, 3)
    .map((region) => hosts.find((host) => host.region === region) as PlannedHost);
  return {
    options,
    bridge: `nbw${name}`,
    gateway: `${prefix}.0.1`,
    network: `${prefix}.0.0/16`,
    cities,
    hosts,
    clients: clientSpaces,
    natsHosts,
    apiHost: hosts[0],
    ...(options.reach === 'anycast'
      ? { anycast: { address: `198.18.${octet}.1`, edgeAs: 65000, ispAs: 65100 } }
      : {}),
  };
}

/** The region whose edge a client in `city` is sent to: the nearest by the matrix (ties: first listed). */
export function nearestRegion(city: string, regions: string[], matrix: RttMatrix): string {
  let best = regions[0];
  for (const region of regions) if (matrix.rtt(city, region).ms < matrix.rtt(city, best).ms) best = region;
  return best;
}
