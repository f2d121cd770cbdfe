/**
 * Settings of nearby's entrypoints: flags, then `NEARBY_*` environment variables, then defaults.
 * Each part has its own settings and flags (api, agent, proxy); `nearby server` takes them all,
 * `nearby node` those of the agent and the proxy. The effective settings are saved in the data dir
 * so `nearby host clean` knows what to remove.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { METER_INTERVAL_MAX_MS, METER_INTERVAL_MIN_MS } from '../billing/meter-loop.ts';
import { defaultDataDir } from '../cli/client.ts';
import { type Command, usageError, type Values } from '../cli/command.ts';
import { parseUpstreams, type Upstream } from '../dns/upstream.ts';
import { errorMessage, isNearbyError } from '../errors.ts';
import { parseDurationMs } from '../model/duration.ts';
import { type BackhaulSettings, readBackhaul } from './backhaul-settings.ts';
import { flagValue } from './flags.ts';
import { flagsOf, type PartName } from './part-flags.ts';

export { flagsOf, type PartName, partFlags } from './part-flags.ts';

export interface CommonSettings {
  dataDir: string;
  /** NATS JetStream servers of the store; absent: the SQLite file in the data dir. */
  nats?: string[];
  /** This host's region (the agent's and proxy's); the API's region for machines given none. */
  region: string;
  hostName: string;
  logFormat: 'json' | 'text';
  /** Where the API is reached (`http://10.0.0.1:4280`): by the proxy to wake machines, by agents
   *  for the registry's address, and in the registry's token realm. */
  apiUrl: string;
}

export interface ApiSettings extends CommonSettings {
  apiListen: string;
  appsDomain: string;
  /** ACME directory URL for `nearby certs add` (default Let's Encrypt). */
  acmeDirectory: string;
  /** How `certs add` host names are validated: HTTP-01 (port 80) or TLS-ALPN-01 (port 443). */
  acmeChallenge: 'http-01' | 'tls-alpn-01';
  /** `host:port` where nearby answers `_acme-challenge.<apps domain>` (DNS-01 wildcard), or '' (local CA). */
  acmeDnsListen: string;
  /** Where nearby's own registry (docker-registry child) listens, or `off`. */
  registryListen: string;
  /** `host:port` other hosts reach the registry at (what image references name); default from the listen address. */
  registryAddress?: string;
  /** Where the first admin token is written when this API makes it. */
  adminTokenFile: string;
}

export interface AgentSettings extends CommonSettings {
  /** `microvm`: every machine of this host runs as a QEMU microVM (docs/microvm.md). */
  runtime: 'auto' | 'crun' | 'runc' | 'microvm';
  bridge: string;
  /** Machine subnets given by flags; absent: allocated in the store out of the pools. */
  ipv4Cidr?: string;
  ipv6Cidr?: string;
  machinePool: string;
  machinePool6: string;
  insecureRegistries: string[];
  /** The address other hosts reach this host at. */
  address: string;
  maxMachines?: number;
  /** Each container machine's root disk, in GB (docs/isolation.md); absent: 8. */
  rootDiskGb?: number;
  /** Capacity offered to machines; absent: the whole host. */
  memoryMb?: number;
  cpus?: number;
  /** A file holding the API token the agent pulls from nearby's registry with. */
  tokenFile?: string;
  /** Consoles for APIs on other hosts (`host:port`), or '' for none (one host: the unix socket does). */
  consoleListen: string;
  /** The WireGuard mesh's socket (`address:port`, the address other hosts reach), or '' for none:
   *  one host has nothing to join, and a machine crosses hosts only where an operator said so. */
  meshListen: string;
  /** How often the meter writes this host's usage (docs/billing.md): 1 s to 10 s. */
  meterIntervalMs: number;
  /** The machines' resolver: its upstreams (default the host's resolv.conf), or `off` (no resolver). */
  dns?: { upstreams?: Upstream[] } | 'off';
}

export interface ProxySettings extends CommonSettings {
  proxyListen: string;
  /** The edge proxy's TLS port (port 443 of apps). */
  proxyTlsListen: string;
  appsDomain: string;
  acmeChallenge: 'http-01' | 'tls-alpn-01';
  /** Where `/metrics` (Prometheus) is served; `off` for nowhere. */
  metricsListen: string;
  /** Scale to zero: how often autostop looks, how long a machine idles before it stops, and how
   *  long a request may wait for a machine to wake (milliseconds). */
  autostopIntervalMs: number;
  autostopIdleMs: number;
  wakeTimeoutMs: number;
  /** A file holding the API token the proxy starts and stops machines with. */
  tokenFile?: string;
  /** Routing across hosts (`--backhaul-*`); absent: this proxy reaches only its own host's machines. */
  backhaul?: BackhaulSettings;
}

export type ServerSettings = ApiSettings & AgentSettings & ProxySettings;

/** Settings of `parts` (one entrypoint) from its flags and the environment. */
export function readSettings(parts: readonly PartName[], values: Values, env = process.env): ServerSettings {
  const get = flagValue(flagsOf(parts), values, env);
  const pick = (name: string, fallback: string) => get(name) ?? fallback;
  const nats = natsUrls(get('nats'));
  const runtime = pick('runtime', 'auto');
  if (!['auto', 'crun', 'runc', 'microvm'].includes(runtime))
    throw usageError(`--runtime: expected crun, runc, microvm or auto, got '${runtime}'`);
  const insecure =
    (values['insecure-registry'] as string[] | undefined) ?? env.NEARBY_INSECURE_REGISTRIES?.split(',');
  const dataDir = pick('data-dir', defaultDataDir());
  const apiListen = pick('api-listen', '127.0.0.1:4280');
  const proxyListen = pick('proxy-listen', '0.0.0.0:8080');
  const proxyTlsListen = pick('proxy-tls-listen', '0.0.0.0:8443');
  // One store for many hosts: subnets come from the store's allocator unless given.
  const cidr = (name: string, single: string) => get(name) ?? (nats ? undefined : single);
  const maxMachines = get('max-machines');
  const memoryMb = get('memory');
  const rootDiskGb = get('root-disk-gb');
  const cpus = get('cpus');
  const hostName = pick('host-name', hostname());
  const backhaul = readBackhaul(get, { nats: nats !== undefined, hostName });
  return {
    dataDir,
    ...(nats ? { nats } : {}),
    region: region(pick('region', 'local')),
    hostName,
    apiUrl: url('api-url', pick('api-url', `http://${reachableAddress(apiListen)}`)),
    // Text for a person at a terminal; JSON lines wherever stderr is read by a program (a file, journald).
    logFormat: logFormat(pick('log-format', process.stderr.isTTY ? 'text' : 'json')),
    apiListen,
    appsDomain: pick('apps-domain', 'localhost'),
    acmeDirectory: pick('acme-directory', 'https://acme-v02.api.letsencrypt.org/directory'),
    acmeChallenge: acmeChallenge(pick('acme-challenge', ''), proxyListen, proxyTlsListen),
    acmeDnsListen: listenOrOff('acme-dns-listen', pick('acme-dns-listen', '')),
    registryListen: pick('registry-listen', '127.0.0.1:5050'),
    ...(get('registry-address') ? { registryAddress: get('registry-address') } : {}),
    adminTokenFile: pick('admin-token-file', join(dataDir, 'admin-token')),
    runtime: runtime as ServerSettings['runtime'],
    bridge: pick('bridge', 'nearby0'),
    ...optional('ipv4Cidr', cidr('machine-cidr', '172.19.0.0/16')),
    ...optional('ipv6Cidr', cidr('machine-cidr6', 'fdaa:0:1::/64')),
    machinePool: pick('machine-pool', '172.20.0.0/16'),
    machinePool6: pick('machine-pool6', 'fdaa:0:100::/48'),
    insecureRegistries: (insecure ?? []).filter(Boolean),
    address: pick('address', '127.0.0.1'),
    consoleListen: listenOrOff(
      'console-listen',
      // With the API in the same process, the unix socket does (and parallel servers share no port).
      pick(
        'console-listen',
        nats && !parts.includes('api') ? hostPort(pick('address', '127.0.0.1'), 4281) : '',
      ),
    ),
    meshListen: listenOrOff('mesh-listen', pick('mesh-listen', '')),
    meterIntervalMs: meterInterval(pick('meter-interval', '10s')),
    ...(maxMachines === undefined ? {} : { maxMachines: count('max-machines', maxMachines) }),
    ...(memoryMb === undefined ? {} : { memoryMb: count('memory', memoryMb) }),
    ...(rootDiskGb === undefined ? {} : { rootDiskGb: count('root-disk-gb', rootDiskGb) }),
    ...(cpus === undefined ? {} : { cpus: count('cpus', cpus) }),
    ...optional('tokenFile', get('token-file')),
    ...dnsSettings(get('dns-upstream')),
    proxyListen,
    proxyTlsListen,
    metricsListen: pick('metrics-listen', '127.0.0.1:9480'),
    autostopIntervalMs: duration('autostop-interval', pick('autostop-interval', '10s')),
    autostopIdleMs: duration('autostop-idle', pick('autostop-idle', '5m')),
    wakeTimeoutMs: duration('wake-timeout', pick('wake-timeout', '10s')),
    ...(backhaul ? { backhaul } : {}),
  };
}

/** `readSettings` for `command`: a bad flag's error points at that command's `--help`. */
export function commandSettings(
  command: Command,
  parts: readonly PartName[],
  values: Values,
): ServerSettings {
  try {
    return readSettings(parts, values);
  } catch (error) {
    if (isNearbyError(error, 'USAGE')) throw usageError(error.message, command);
    throw error;
  }
}

const hostPort = (host: string, port: number) =>
  host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>;

/** `nats://a:4222,nats://b:4222` (or bare `host:port`) → the list; undefined when not given. */
function natsUrls(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const urls = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => (/^[a-z]+:\/\//.test(part) ? part : `nats://${part}`));
  for (const candidate of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+(:\d{1,5})?\/?$/.test(candidate))
      throw usageError(`--nats: '${candidate}' is not a NATS server URL such as nats://10.0.0.1:4222`);
  }
  if (urls.length === 0) throw usageError('--nats: expected one or more URLs such as nats://10.0.0.1:4222');
  return urls;
}

function dnsSettings(text: string | undefined): Pick<AgentSettings, 'dns'> {
  if (text === undefined) return {};
  if (text === 'off') return { dns: 'off' };
  try {
    return { dns: { upstreams: parseUpstreams(text) } };
  } catch (error) {
    throw usageError(errorMessage(error));
  }
}

function region(text: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(text))
    throw usageError(`--region: expected a region code such as fra or us-east, got '${text}'`);
  return text;
}

function url(flag: string, text: string): string {
  if (!/^https?:\/\/[^\s/]+/.test(text))
    throw usageError(`--${flag}: expected a URL such as http://10.0.0.1:4280, got '${text}'`);
  return text.replace(/\/+$/, '');
}

function count(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`--${flag}: expected a whole number ≥ 1, got '${text}'`);
  return n;
}

function logFormat(text: string): ServerSettings['logFormat'] {
  if (text === 'json' || text === 'text') return text;
  throw usageError(`--log-format: expected text or json, got '${text}'`);
}

function duration(flag: string, text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms <= 0)
    throw usageError(`--${flag}: expected a duration such as 2s or 5m, got '${text}'`);
  return ms;
}

/** The meter writes usage at least every 10 s (the promise billing makes), at most every second. */
function meterInterval(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined || ms < METER_INTERVAL_MIN_MS || ms > METER_INTERVAL_MAX_MS)
    throw usageError(
      `--meter-interval: expected a duration from 1s to 10s such as 5s, got '${text}' (usage is written to the store at least every 10 s)`,
    );
  return ms;
}

/**
 * The ACME challenge `certs add` uses. Unset: the one the proxy's listeners can answer where ACME
 * servers look (HTTP-01 needs port 80, TLS-ALPN-01 port 443), HTTP-01 when neither or both.
 */
function acmeChallenge(text: string, httpListen: string, tlsListen: string): ServerSettings['acmeChallenge'] {
  if (text === 'http-01' || text === 'tls-alpn-01') return text;
  if (text !== '') throw usageError(`--acme-challenge: expected http-01 or tls-alpn-01, got '${text}'`);
  const port = (listen: string) => listen.slice(listen.lastIndexOf(':') + 1);
  return port(tlsListen) === '443' && port(httpListen) !== '80' ? 'tls-alpn-01' : 'http-01';
}

function listenOrOff(flag: string, text: string): string {
  if (text === '' || text === 'off') return '';
  const port = Number(/^(?:\[[0-9a-fA-F:.]+\]|[^:[\]]*):(\d{1,5})$/.exec(text)?.[1]);
  if (!(port >= 1 && port <= 65535))
    throw usageError(`--${flag}: expected HOST:PORT such as 0.0.0.0:53, got '${text}'`);
  return text;
}

/** `0.0.0.0:4280` → `127.0.0.1:4280`: the address clients on this host use. */
export function reachableAddress(listen: string): string {
  const match = /^(.*):(\d+)$/.exec(listen);
  if (!match) return listen;
  const host = match[1].replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') return `127.0.0.1:${match[2]}`;
  if (host === '::') return `[::1]:${match[2]}`;
  return host.includes(':') ? `[${host}]:${match[2]}` : `${host}:${match[2]}`;
}

export const settingsFile = (dataDir: string) => join(dataDir, 'server.json');

/**
 * What an entrypoint saves in `server.json` when it starts. An agent and a proxy may share a data
 * dir (`nearby agent` and `nearby proxy` run apart on one host): a part without the agent keeps the
 * agent's runtime, bridge and subnets that are there, or `nearby host clean` would no longer find
 * the bridge and machines to remove once the proxy restarted after the agent.
 */
export function settingsToSave(
  parts: readonly PartName[],
  settings: ServerSettings,
  previous: Partial<ServerSettings> | undefined,
): ServerSettings {
  if (parts.includes('agent') || previous?.ipv4Cidr === undefined) return settings;
  const { runtime, bridge, ipv4Cidr, ipv6Cidr } = previous;
  return {
    ...settings,
    ...(runtime === undefined ? {} : { runtime }),
    ...(bridge === undefined ? {} : { bridge }),
    ipv4Cidr,
    ...(ipv6Cidr === undefined ? {} : { ipv6Cidr }),
  };
}

/** `nearby server`: every part's settings. */
export const serverSettings = (values: Values, env = process.env) =>
  readSettings(['api', 'agent', 'proxy'], values, env);
