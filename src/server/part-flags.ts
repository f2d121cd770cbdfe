/**
 * Which flags each part takes (`nearby agent --help` lists the agent's): declared once, read by
 * parseArgs, `--help` and settings.ts. An entrypoint running several parts takes their union.
 */
import { type Flag, unionFlags } from './flags.ts';

export type PartName = 'api' | 'agent' | 'proxy';

const f = (
  name: string,
  env: string,
  arg: string,
  help: string,
  shown?: string,
  multiple?: boolean,
): Flag => ({
  name,
  env,
  arg,
  help,
  ...(shown === undefined ? {} : { shown }),
  ...(multiple ? { multiple } : {}),
});

/** The agent's meter (machines, volumes) and the proxy's (egress) write usage this often. */
const meterInterval = f(
  'meter-interval',
  'METER_INTERVAL',
  'DUR',
  "how often this host's usage (machines, volumes, egress) is written, 1s to 10s",
  '10s',
);

const common: Flag[] = [
  f(
    'nats',
    'NATS',
    'URLS',
    'NATS JetStream servers of the store, comma-separated',
    'none: SQLite in the data dir',
  ),
  f('data-dir', 'DATA_DIR', 'DIR', 'local state: images, machines, tokens', '~/.nearby'),
  f('region', 'REGION', 'CODE', "this host's region", 'local'),
  f('host-name', 'HOST_NAME', 'NAME', "this host's name, unique in the cluster", 'the hostname'),
  f('api-url', 'API_URL', 'URL', 'where the API is reached', 'http://127.0.0.1:4280'),
  f('log-format', 'LOG_FORMAT', 'FMT', 'text or json', 'text on a terminal, else json'),
];
const tokenFile = f('token-file', 'API_TOKEN_FILE', 'FILE', 'file with an API token (or NEARBY_API_TOKEN)');

export const partFlags: Record<PartName, Flag[]> = {
  api: [
    ...common,
    f('api-listen', 'API_LISTEN', 'ADDR', 'control-plane API', '127.0.0.1:4280'),
    f('apps-domain', 'APPS_DOMAIN', 'DOMAIN', 'apps answer at <app>.DOMAIN', 'localhost'),
    f('acme-directory', 'ACME_DIRECTORY', 'URL', 'ACME server for `nearby certs add`', "Let's Encrypt"),
    f(
      'acme-challenge',
      'ACME_CHALLENGE',
      'TYPE',
      'http-01 (port 80) or tls-alpn-01 (port 443)',
      'from the proxy ports',
    ),
    f(
      'acme-dns-listen',
      'ACME_DNS_LISTEN',
      'ADDR',
      'answer _acme-challenge.<apps domain> here (DNS-01)',
      'off',
    ),
    f('registry-listen', 'REGISTRY_LISTEN', 'ADDR', "nearby's own registry, or off", '127.0.0.1:5050'),
    f(
      'registry-address',
      'REGISTRY_ADDRESS',
      'HOST:PORT',
      'where other hosts reach the registry',
      'from --registry-listen',
    ),
    f(
      'admin-token-file',
      'ADMIN_TOKEN_FILE',
      'FILE',
      'where the first admin token is written',
      '<data-dir>/admin-token',
    ),
  ],
  agent: [
    ...common,
    f('address', 'ADDRESS', 'IP', 'the address other hosts reach this host at', '127.0.0.1'),
    f('max-machines', 'MAX_MACHINES', 'N', 'at most N machines on this host', 'no limit'),
    f('memory', 'MEMORY', 'MB', "memory offered to machines (the scheduler's capacity)", 'all of it'),
    f('cpus', 'CPUS', 'N', "CPUs offered to machines (the scheduler's capacity)", 'all of them'),
    f('runtime', 'RUNTIME', 'NAME', 'crun, runc, or microvm (QEMU microVMs)', 'auto: crun, else runc'),
    f('root-disk-gb', 'ROOT_DISK_GB', 'GB', "what each container machine's root may hold", '8'),
    f('bridge', 'BRIDGE', 'NAME', 'host bridge for machines', 'nearby0'),
    meterInterval,
    f(
      'machine-cidr',
      'MACHINE_CIDR',
      'CIDR',
      "machines' IPv4 subnet",
      'one /24 of --machine-pool with --nats, else 172.19.0.0/16',
    ),
    f(
      'machine-cidr6',
      'MACHINE_CIDR6',
      'CIDR',
      "machines' IPv6 /64",
      'one /64 of --machine-pool6 with --nats, else fdaa:0:1::/64',
    ),
    f(
      'machine-pool',
      'MACHINE_POOL',
      'CIDR',
      "the cluster's IPv4 pool (the same on every host)",
      '172.20.0.0/16',
    ),
    f(
      'machine-pool6',
      'MACHINE_POOL6',
      'CIDR',
      "the cluster's IPv6 /48 (the same on every host)",
      'fdaa:0:100::/48',
    ),
    f(
      'console-listen',
      'CONSOLE_LISTEN',
      'ADDR',
      'consoles for APIs on other hosts, or off',
      '<address>:4281 for agent and node, else off',
    ),
    f(
      'mesh-listen',
      'MESH_LISTEN',
      'ADDR',
      "the WireGuard mesh's socket (other hosts' machines reach this host's over it), or off",
      'off',
    ),
    f(
      'insecure-registry',
      'INSECURE_REGISTRIES',
      'HOST',
      'plain-HTTP registry besides loopback ones (repeatable)',
      undefined,
      true,
    ),
    f(
      'dns-upstream',
      'DNS_UPSTREAM',
      'ADDRS',
      "where machines' names outside .internal go (IP[:PORT], comma-separated), or off",
      "the host's /etc/resolv.conf",
    ),
    tokenFile,
  ],
  proxy: [
    ...common,
    f('proxy-listen', 'PROXY_LISTEN', 'ADDR', 'edge proxy for apps, HTTP (their port 80)', '0.0.0.0:8080'),
    f(
      'proxy-tls-listen',
      'PROXY_TLS_LISTEN',
      'ADDR',
      'edge proxy for apps, TLS (their port 443)',
      '0.0.0.0:8443',
    ),
    f('apps-domain', 'APPS_DOMAIN', 'DOMAIN', 'apps answer at <app>.DOMAIN', 'localhost'),
    f(
      'acme-challenge',
      'ACME_CHALLENGE',
      'TYPE',
      'http-01 (port 80) or tls-alpn-01 (port 443)',
      'from the proxy ports',
    ),
    f(
      'metrics-listen',
      'METRICS_LISTEN',
      'ADDR',
      'Prometheus /metrics of the proxy, or off',
      '127.0.0.1:9480',
    ),
    meterInterval,
    f('autostop-interval', 'AUTOSTOP_INTERVAL', 'DUR', 'how often idle machines are looked for', '10s'),
    f('autostop-idle', 'AUTOSTOP_IDLE', 'DUR', 'idle time before autostop stops or suspends a machine', '5m'),
    f(
      'wake-timeout',
      'WAKE_TIMEOUT',
      'DUR',
      'how long a request waits for a stopped machine, then 503',
      '10s',
    ),
    f(
      'backhaul-listen',
      'BACKHAUL_LISTEN',
      'ADDR',
      "mutual-TLS listener other hosts' proxies reach this host's machines through, or off",
      'off',
    ),
    f(
      'backhaul-advertise',
      'BACKHAUL_ADVERTISE',
      'HOST:PORT',
      "where other hosts' proxies reach the backhaul",
      '--backhaul-listen',
    ),
    f(
      'backhaul-cert',
      'BACKHAUL_CERT',
      'FILE',
      "PEM: this proxy's certificate from the cluster's CA, with its key unless --backhaul-key",
    ),
    f('backhaul-key', 'BACKHAUL_KEY', 'FILE', "PEM: the certificate's private key", 'in --backhaul-cert'),
    f(
      'backhaul-ca',
      'BACKHAUL_CA',
      'FILE',
      "PEM: the cluster's CA; proxies without a certificate it signed are refused",
    ),
    tokenFile,
  ],
};

/** The flags of an entrypoint that runs `parts`. */
export const flagsOf = (parts: readonly PartName[]) => unionFlags(...parts.map((part) => partFlags[part]));
