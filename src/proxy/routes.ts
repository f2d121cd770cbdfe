/**
 * From the store's records to the routes HAProxy should serve: backends per app and service, a
 * server per routable machine, host names per app, frontends for dedicated ports, and the
 * certificates. Pure, so the rules are tested without HAProxy.
 */
import type { AppRecord } from '../model/app.ts';
import type { CertRecord } from '../model/cert.ts';
import { keys } from '../model/keys.ts';
import type { MachineConfig, MachineRecord, MachineStatus } from '../model/machine.ts';
import { BACKHAUL_TCP_OFFSET } from './backhaul-config.ts';
import { renderCheckRules } from './health-checks.ts';
import type { Location } from './placement.ts';
import { type Endpoint, endpoints, isSharedEndpoint, serverSettings, serviceChecks } from './services.ts';
import { usableCertificate } from './tls-check.ts';

export interface WantedServer {
  /** HAProxy server name: the machine id. */
  name: string;
  address: string;
  port: number;
  /** `server` keywords (maxconn, weight, proto h2, send-proxy, check…). */
  options: string[];
  /** Health-checked: checks start counting this long after the server is added. */
  healthGraceMs?: number;
  /** The backend's server slot it takes (`s3`), set by `SlotTable.assign` (slots.ts). */
  slot?: string;
  /** Reached through another host's proxy: `address:port` is that proxy's backhaul (TLS, mutual). */
  backhaul?: boolean;
}

export interface WantedBackend {
  app: string;
  /** HAProxy backend name: `app_<app>` for the app's HTTP service, `app_<app>_<port>_<kind>` for others. */
  name: string;
  mode: 'http' | 'tcp';
  /** Health check rules (backend lines). */
  checks: string[];
  /** Plain HTTP requests are redirected to HTTPS. */
  forceHttps: boolean;
  /** By server name, sorted. */
  servers: WantedServer[];
  /** Options of every server slot (checks, proto h2, send-proxy): the newest machine config's. */
  slotOptions: string[];
  /** Server slots declared, set by `SlotTable.assign` (slots.ts). */
  slots?: number;
  /**
   * The activator, where HAProxy sends requests when no machine is in rotation: declared in every
   * app's HTTP backend, enabled for apps it can wake (no reload when that changes).
   */
  backup?: { host: string; port: number; enabled: boolean };
  /**
   * In a cluster, every app backend (`of`) has a twin, `<of>_far`, holding only the machines of
   * other hosts, each reached through its host's backhaul (backhaul-config.ts): the far side routes
   * to its own host's machines, so a request never crosses twice. Twins reuse their warm backhaul
   * connections for any request (docs/proxy.md, "Routing across hosts"). `byHost`: the app's HTTP
   * backend's twin, whose requests the far side routes by Host like any other; a dedicated port's
   * twin names `of` in a header instead.
   */
  far?: { of: string; byHost?: boolean };
}

/** A public port of its own (not 80/443): bound on the proxy host as given. */
export interface WantedFrontend {
  /** `port_<port>` or `ports_<first>_<last>`. */
  name: string;
  app: string;
  port: number;
  endPort?: number;
  mode: 'http' | 'tcp';
  tls: boolean;
  alpn?: string[];
  tlsVersions?: string[];
  forceHttps: boolean;
  backend: string;
  /** In a cluster: where connections go while `backend` has no machine up (its `_far` twin). */
  far?: string;
}

export interface WantedCert {
  hostname: string;
  /** Certificate chain then key, as HAProxy reads it. */
  pem: string;
}

export interface RouteTable {
  /** By backend name, sorted. */
  backends: WantedBackend[];
  /** By port, sorted. */
  frontends: WantedFrontend[];
  /** Host name (lower case) → backend name. */
  hosts: Map<string, string>;
  /** By host name, sorted. */
  certs: WantedCert[];
  /** Records left out, and why, because HAProxy cannot serve them. */
  skipped: string[];
}

export interface RouteInput {
  apps: Iterable<AppRecord>;
  machines: Iterable<MachineRecord>;
  /** By store key `machine-status/<host>/<id>`. */
  statuses: ReadonlyMap<string, MachineStatus>;
  appsDomain: string;
  certs?: Iterable<CertRecord>;
  /** Ports the proxy or nearby itself listens on: no app may take them. */
  reservedPorts?: number[];
  /**
   * In a cluster: where each machine is reached from this proxy (placement.ts). Undefined for a
   * machine: not routed. Without it every machine is reached directly (one host).
   */
  locate?: (record: MachineRecord) => Location | undefined;
}

/** App names and machine ids become HAProxy identifiers, map keys and page text: keep them plain. */
const SAFE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SAFE_SERVER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const SAFE_HOSTNAME = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export const backendName = (app: string) => `app_${app}`;
export const appHost = (app: string, appsDomain: string) => `${app}.${appsDomain}`.toLowerCase();
export const isSafeHostname = (hostname: string) => SAFE_HOSTNAME.test(hostname) && hostname.length <= 253;

/** The port a machine serves HTTP on: its first service with an HTTP port on 80 or 443. */
export function httpPort(config: MachineConfig): number | undefined {
  return endpoints(config).find(isSharedEndpoint)?.internalPort;
}

export interface RoutableMachine {
  name: string;
  address: string;
}

/**
 * A machine takes traffic when it is not destroyed, cordoned or created with
 * `skip_service_registration`, and its agent reports this very instance started.
 */
export function routableServer(
  record: MachineRecord,
  status: MachineStatus | undefined,
): RoutableMachine | undefined {
  if (record.desired.state === 'destroyed' || record.destroyed_at !== undefined) return undefined;
  if (record.cordoned === true || record.skip_service_registration === true) return undefined;
  if (status === undefined || status.state !== 'started' || status.instance_id !== record.instance_id) {
    return undefined;
  }
  const address = status.ipv4;
  if (address === undefined || !isIpv4(address)) return undefined;
  return { name: record.id, address };
}

function isIpv4(address: string): boolean {
  const match = IPV4.exec(address);
  return match?.slice(1).every((part) => Number(part) <= 255) ?? false;
}

const frontendName = (endpoint: Endpoint) =>
  endpoint.endPort === undefined ? `port_${endpoint.port}` : `ports_${endpoint.port}_${endpoint.endPort}`;

/** Newest config first: while a deploy rolls, the new version's settings shape the backend. */
const newestFirst = (a: MachineRecord, b: MachineRecord) =>
  b.updated_at.localeCompare(a.updated_at) || a.id.localeCompare(b.id);

/** Server options that are the same for every slot: all but the per-machine limits, set at run time. */
export function slotOptions(options: string[]): string[] {
  return options.filter((option) => !/^(maxconn|weight) /.test(option));
}

export const farBackendName = (backend: string) => `${backend}_far`;

/**
 * Points each host name of an app at its HTTP backend's far twin while only other hosts' machines
 * serve it (the backend has none of this host's, the twin has some), else at the backend itself:
 * this host's machines, or the activator. A dedicated port decides the same in HAProxy (`nbsrv`,
 * haproxy-config.ts); a host name's backend comes from the host map, so it is decided here, after
 * `holdForNearWake` (warm-or-cold.ts) may have emptied the twin to hold requests for a wake.
 */
export function routeHostsToServingBackends(routes: RouteTable): void {
  const byName = new Map(routes.backends.map((backend) => [backend.name, backend]));
  for (const [host, name] of routes.hosts) {
    const named = byName.get(name);
    const near = named?.far === undefined ? named : byName.get(named.far.of);
    if (near === undefined) continue;
    const far = byName.get(farBackendName(near.name));
    const useFar = far !== undefined && near.servers.length === 0 && far.servers.length > 0;
    routes.hosts.set(host, useFar ? far.name : near.name);
  }
}

export function computeRoutes(input: RouteInput): RouteTable {
  const skipped: string[] = [];
  const backends = new Map<string, WantedBackend>();
  const frontends = new Map<number, WantedFrontend>();
  const hosts = new Map<string, string>();
  const reserved = new Set(input.reservedPorts ?? []);
  const apps = [...input.apps].sort((a, b) => a.name.localeCompare(b.name));
  const machinesByApp = new Map<string, MachineRecord[]>();
  for (const record of input.machines) {
    if (record.desired.state === 'destroyed' || record.destroyed_at !== undefined) continue;
    machinesByApp.set(record.app, [...(machinesByApp.get(record.app) ?? []), record]);
  }

  for (const app of apps) {
    if (!SAFE_NAME.test(app.name)) {
      skipped.push(`app ${JSON.stringify(app.name)}`);
      continue;
    }
    const host = appHost(app.name, input.appsDomain);
    const main: WantedBackend = {
      app: app.name,
      name: backendName(app.name),
      mode: 'http',
      checks: [],
      forceHttps: false,
      servers: [],
      slotOptions: [],
    };
    backends.set(main.name, main);
    hosts.set(host, main.name);
    const machines = (machinesByApp.get(app.name) ?? []).sort(newestFirst);
    let mainKey: string | undefined;
    /** backend key → backend name, for this app. */
    const names = new Map<string, string>();
    const nameFor = (endpoint: Endpoint): string | undefined => {
      if (isSharedEndpoint(endpoint)) {
        mainKey ??= endpoint.backendKey;
        if (mainKey !== endpoint.backendKey) return undefined;
      }
      if (endpoint.backendKey === mainKey) return main.name;
      return names.get(endpoint.backendKey);
    };

    // Structure (backends, frontends) from every machine of the app, started or not, so that it
    // stays put while machines start and stop.
    /** Backends whose slot options are set (by the newest machine). */
    const shaped = new Set<string>();
    for (const record of machines) {
      const all = endpoints(record.config);
      // Shared ports first: they decide which service is the app's HTTP backend.
      for (const endpoint of [...all.filter(isSharedEndpoint), ...all.filter((e) => !isSharedEndpoint(e))]) {
        const shared = isSharedEndpoint(endpoint);
        if (!shared && (endpoint.port === 80 || endpoint.port === 443) && endpoint.endPort === undefined) {
          skipped.push(
            `app ${app.name} port ${endpoint.port}: only the http handler (with tls on 443) is served there`,
          );
          continue;
        }
        let name = nameFor(endpoint);
        if (name === undefined && shared) {
          skipped.push(`app ${app.name} port ${endpoint.port}: another service already serves HTTP`);
          continue;
        }
        if (name === undefined) {
          name = `${main.name}_${endpoint.backendKey}`;
          names.set(endpoint.backendKey, name);
        }
        let backend = backends.get(name);
        if (backend === undefined) {
          backend = {
            app: app.name,
            name,
            mode: endpoint.http ? 'http' : 'tcp',
            checks: [],
            forceHttps: false,
            servers: [],
            slotOptions: [],
          };
          backends.set(name, backend);
        }
        if (!shaped.has(backend.name)) {
          shaped.add(backend.name);
          backend.slotOptions = slotOptions(serverSettings(record.config, endpoint).options);
        }
        if (backend.checks.length === 0) {
          backend.checks = renderCheckRules(
            serviceChecks(record.config, endpoint.service),
            endpoint.internalPort,
            host,
          );
        }
        if (shared) {
          if (endpoint.port === 80 && endpoint.forceHttps) main.forceHttps = true;
          continue;
        }
        const last = endpoint.endPort ?? endpoint.port;
        const taken = [...frontends.values()].find(
          (frontend) => frontend.port <= last && endpoint.port <= (frontend.endPort ?? frontend.port),
        );
        const clash = [...reserved].find((port) => endpoint.port <= port && port <= last);
        if (clash !== undefined) {
          skipped.push(`app ${app.name} port ${clash}: nearby listens there`);
          continue;
        }
        if (taken !== undefined) {
          if (taken.app !== app.name || taken.backend !== name) {
            skipped.push(`app ${app.name} port ${endpoint.port}: already served for app ${taken.app}`);
          }
          continue;
        }
        frontends.set(endpoint.port, {
          name: frontendName(endpoint),
          app: app.name,
          port: endpoint.port,
          ...(endpoint.endPort !== undefined ? { endPort: endpoint.endPort } : {}),
          mode: endpoint.http ? 'http' : 'tcp',
          tls: endpoint.tls,
          ...(endpoint.alpn ? { alpn: endpoint.alpn } : {}),
          ...(endpoint.tlsVersions ? { tlsVersions: endpoint.tlsVersions } : {}),
          forceHttps: endpoint.http && !endpoint.tls && endpoint.forceHttps,
          backend: name,
        });
      }
    }

    /** An app backend → its twin for other hosts' machines (in a cluster). */
    const farOf = new Map<string, WantedBackend>();
    if (input.locate !== undefined) {
      for (const name of [main.name, ...names.values()]) {
        const near = backends.get(name);
        if (near === undefined) continue;
        const far: WantedBackend = {
          app: app.name,
          name: farBackendName(name),
          mode: near.mode,
          checks: [],
          forceHttps: false,
          servers: [],
          // TLS and the PROXY header come from the far backend's defaults; h2 stays h2 on the way.
          slotOptions: near.slotOptions.includes('proto h2') ? ['alpn h2'] : [],
          far: name === main.name ? { of: name, byHost: true } : { of: name },
        };
        backends.set(far.name, far);
        farOf.set(name, far);
        for (const frontend of frontends.values()) if (frontend.backend === name) frontend.far = far.name;
      }
    }
    /** Each server's tier (placement.ts): a backend keeps only its nearest tier's servers. */
    const tiers = new Map<WantedServer, number>();
    for (const record of machines) {
      const machine = routableServer(record, input.statuses.get(keys.machineStatus(record.host, record.id)));
      if (machine === undefined) continue;
      if (!SAFE_SERVER.test(machine.name)) {
        skipped.push(`machine ${JSON.stringify(machine.name)}`);
        continue;
      }
      const location = input.locate === undefined ? { tier: 0 } : input.locate(record);
      if (location === undefined) continue;
      const added = new Set<string>();
      for (const endpoint of endpoints(record.config)) {
        const name = nameFor(endpoint);
        const near = name === undefined ? undefined : backends.get(name);
        // Another host's machine: in the far twin, at that host's backhaul.
        const far = location.via !== undefined && near !== undefined;
        const backend = far ? farOf.get(near.name) : near;
        if (backend === undefined || added.has(backend.name)) continue;
        added.add(backend.name);
        const settings = serverSettings(record.config, endpoint);
        const server: WantedServer = {
          name: machine.name,
          address: location.via?.host ?? machine.address,
          port:
            location.via === undefined
              ? endpoint.internalPort
              : location.via.port + (backend.mode === 'tcp' ? BACKHAUL_TCP_OFFSET : 0),
          // The far side applies the machine's own options (limits, PROXY header, checks).
          options: far ? [...backend.slotOptions] : settings.options,
          ...(!far && settings.healthGraceMs !== undefined ? { healthGraceMs: settings.healthGraceMs } : {}),
          ...(location.via !== undefined ? { backhaul: true } : {}),
        };
        backend.servers.push(server);
        tiers.set(server, location.tier);
      }
    }
    for (const name of [main.name, ...names.values(), ...[...farOf.values()].map((far) => far.name)]) {
      const backend = backends.get(name);
      if (backend === undefined || backend.servers.length === 0) continue;
      const nearest = Math.min(...backend.servers.map((server) => tiers.get(server) ?? 0));
      backend.servers = backend.servers.filter((server) => (tiers.get(server) ?? 0) === nearest);
    }
  }

  const certs: WantedCert[] = [];
  for (const cert of input.certs ?? []) {
    const hostname = cert.hostname?.toLowerCase() ?? '';
    if (!isSafeHostname(hostname)) {
      skipped.push(`certificate ${JSON.stringify(cert.hostname)}`);
      continue;
    }
    // One unreadable certificate must not block every reload: HAProxy refuses the whole file.
    if (!usableCertificate(cert.cert_pem, cert.key_pem)) {
      skipped.push(`certificate ${hostname}: not a PEM certificate with its matching key`);
      continue;
    }
    certs.push({ hostname, pem: `${cert.cert_pem.trim()}\n${cert.key_pem.trim()}\n` });
    // A custom domain routes to its app (wildcards only select the certificate).
    const app = cert.app === undefined ? undefined : backends.get(backendName(cert.app));
    if (app !== undefined && !hostname.startsWith('*.') && !hosts.has(hostname))
      hosts.set(hostname, app.name);
  }

  const sorted = [...backends.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const backend of sorted) backend.servers.sort((a, b) => a.name.localeCompare(b.name));
  return {
    backends: sorted,
    frontends: [...frontends.values()].sort((a, b) => a.port - b.port),
    hosts,
    certs: certs.sort((a, b) => a.hostname.localeCompare(b.hostname)),
    skipped,
  };
}
