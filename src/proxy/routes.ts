/**
 * From the store's records to the routes HAProxy should serve: a backend per app, a server per
 * routable machine, a host name per app. Pure, so the rules are tested without HAProxy.
 */
import type { AppRecord } from '../model/app.ts';
import { keys } from '../model/keys.ts';
import type { MachineConfig, MachineRecord, MachineStatus } from '../model/machine.ts';

export interface WantedServer {
  /** HAProxy server name: the machine id. */
  name: string;
  address: string;
  port: number;
}

export interface WantedBackend {
  app: string;
  /** HAProxy backend name (`app_<app>`). */
  name: string;
  /** By server name, sorted. */
  servers: WantedServer[];
}

export interface RouteTable {
  /** By backend name, sorted. */
  backends: WantedBackend[];
  /** Host name (lower case) → backend name. */
  hosts: Map<string, string>;
  /** Records left out because their names cannot be used in HAProxy's configuration. */
  skipped: string[];
}

export interface RouteInput {
  apps: Iterable<AppRecord>;
  machines: Iterable<MachineRecord>;
  /** By store key `machine-status/<host>/<id>`. */
  statuses: ReadonlyMap<string, MachineStatus>;
  appsDomain: string;
}

/** App names and machine ids become HAProxy identifiers, map keys and page text: keep them plain. */
const SAFE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SAFE_SERVER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export const backendName = (app: string) => `app_${app}`;
export const appHost = (app: string, appsDomain: string) => `${app}.${appsDomain}`.toLowerCase();

/** The port a machine serves HTTP on: the first service whose ports have the http handler, or 80/443. */
export function httpPort(config: MachineConfig): number | undefined {
  for (const service of config.services ?? []) {
    if (service.protocol !== 'tcp') continue;
    const ports = service.ports ?? [];
    const isHttp = ports.some(
      (port) => port.handlers?.includes('http') || port.port === 80 || port.port === 443,
    );
    if (isHttp && Number.isInteger(service.internal_port) && service.internal_port > 0) {
      return service.internal_port;
    }
  }
  return undefined;
}

/** A machine takes traffic when it is not destroyed and its agent reports this very instance started. */
export function routableServer(
  record: MachineRecord,
  status: MachineStatus | undefined,
): WantedServer | undefined {
  if (record.desired.state === 'destroyed' || record.destroyed_at !== undefined) return undefined;
  if (status === undefined || status.state !== 'started' || status.instance_id !== record.instance_id) {
    return undefined;
  }
  const port = httpPort(record.config);
  const address = status.ipv4;
  if (port === undefined || address === undefined || !isIpv4(address)) return undefined;
  return { name: record.id, address, port };
}

function isIpv4(address: string): boolean {
  const match = IPV4.exec(address);
  return match?.slice(1).every((part) => Number(part) <= 255) ?? false;
}

export function computeRoutes(input: RouteInput): RouteTable {
  const skipped: string[] = [];
  const backends = new Map<string, WantedBackend>();
  const hosts = new Map<string, string>();
  for (const app of input.apps) {
    if (!SAFE_NAME.test(app.name)) {
      skipped.push(`app ${JSON.stringify(app.name)}`);
      continue;
    }
    const name = backendName(app.name);
    backends.set(app.name, { app: app.name, name, servers: [] });
    hosts.set(appHost(app.name, input.appsDomain), name);
  }
  for (const record of input.machines) {
    const backend = backends.get(record.app);
    if (backend === undefined) continue;
    const server = routableServer(record, input.statuses.get(keys.machineStatus(record.host, record.id)));
    if (server === undefined) continue;
    if (!SAFE_SERVER.test(server.name)) {
      skipped.push(`machine ${JSON.stringify(server.name)}`);
      continue;
    }
    backend.servers.push(server);
  }
  const sorted = [...backends.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const backend of sorted) backend.servers.sort((a, b) => a.name.localeCompare(b.name));
  return { backends: sorted, hosts, skipped };
}
