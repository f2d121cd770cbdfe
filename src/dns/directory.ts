/**
 * What the resolver knows of the cluster, as one snapshot built from store records without I/O:
 * apps and their orgs, hosts and their regions, every machine's reported state and address, and
 * which machine owns a source address on this host (the asker).
 */
import { hostIsUp } from '../model/host-liveness.ts';
import type { AppRecord, HostRecord, MachineStatus } from '../model/mod.ts';

/** A machine as names see it. */
export interface NamedMachine {
  id: string;
  app: string;
  host: string;
  /** Its host's region; undefined while the host has no record. */
  region?: string;
  /** Started, with a private IPv6, on a host that is up (or this host): the names give it out. */
  answering: boolean;
  ipv6?: string;
}

/** The machine a query came from, and what its answers are scoped by. */
export interface Asker {
  machine: string;
  app: string;
  org: string;
  host: string;
  region: string;
}

export interface Directory {
  /** The app's org; undefined when there is no such app. */
  appOrg(app: string): string | undefined;
  /** The org's apps, by name. */
  appsOf(org: string): string[];
  /** The app's machines on every host (destroyed ones left out). */
  machinesOf(app: string): NamedMachine[];
  /** Whether some host is in `region`. */
  hasRegion(region: string): boolean;
  /** The machine of this host whose IPv4 or IPv6 is `address`; undefined: not a machine of ours. */
  askerAt(address: string): Asker | undefined;
}

export interface DirectoryInput {
  /** This host: askers are its machines, and its own machines count as up whatever its record says. */
  host: string;
  region: string;
  apps: Iterable<AppRecord>;
  hosts: Iterable<HostRecord>;
  statuses: Iterable<{ host: string; status: MachineStatus }>;
  now?: number;
}

/** `::ffff:10.0.0.2` (an IPv4 peer on a dual-stack socket) → `10.0.0.2`. */
export function plainAddress(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

export function buildDirectory(input: DirectoryInput): Directory {
  const now = input.now ?? Date.now();
  const orgs = new Map<string, string>();
  const appsByOrg = new Map<string, string[]>();
  for (const app of input.apps) {
    orgs.set(app.name, app.org_slug);
    appsByOrg.set(app.org_slug, [...(appsByOrg.get(app.org_slug) ?? []), app.name]);
  }
  const hosts = new Map<string, HostRecord>();
  for (const host of input.hosts) hosts.set(host.name, host);
  const regions = new Set([...hosts.values()].map((host) => host.region).concat(input.region));
  const machines = new Map<string, NamedMachine[]>();
  const askers = new Map<string, Asker>();
  for (const { host, status } of input.statuses) {
    if (status.state === 'destroyed') continue;
    const record = hosts.get(host);
    // A host that stopped heartbeating keeps saying its machines are started: they answer nothing.
    const hostUp = host === input.host || (record !== undefined && hostIsUp(record, now));
    const region = host === input.host ? input.region : record?.region;
    const machine: NamedMachine = {
      id: status.id,
      app: status.app,
      host,
      ...(region === undefined ? {} : { region }),
      answering: status.state === 'started' && status.private_ip !== undefined && hostUp,
      ...(status.private_ip === undefined ? {} : { ipv6: status.private_ip }),
    };
    machines.set(status.app, [...(machines.get(status.app) ?? []), machine]);
    const org = orgs.get(status.app);
    if (host !== input.host || org === undefined) continue;
    const asker = { machine: status.id, app: status.app, org, host, region: input.region };
    for (const address of [status.private_ip, status.ipv4])
      if (address !== undefined) askers.set(plainAddress(address), asker);
  }
  return {
    appOrg: (app) => orgs.get(app),
    appsOf: (org) => [...(appsByOrg.get(org) ?? [])].sort(),
    machinesOf: (app) => machines.get(app) ?? [],
    hasRegion: (region) => regions.has(region),
    askerAt: (address) => askers.get(plainAddress(address)),
  };
}
