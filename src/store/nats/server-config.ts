/**
 * The configuration of one `nats-server` node of the cluster nearby's store runs on (docs/cluster.md):
 * JetStream on, a client listener, a cluster (routes) listener naming every node, and optionally
 * a token that clients and routes must present. `nearby nats config` prints it; the tests' NATS
 * cluster runs on it too, so what users start is what the tests exercise.
 */
import { storeConfigInvalid } from '../errors.ts';

export interface NatsServerConfig {
  /** Unique per node (`server_name`): letters, digits, `-` and `_`. */
  name: string;
  /** `host:port` clients (nearby's parts) connect to. */
  listen: string;
  /** `host:port` the other nodes' routes connect to. */
  clusterListen: string;
  /** `host:port` of every node's cluster listener (this node's own may be listed: it is skipped). */
  routes: string[];
  /** Where JetStream keeps its data (the store's whole state lives there: back it up). */
  storeDir: string;
  /** The cluster's name, the same on every node. */
  clusterName?: string;
  /** `host:port` of the monitoring endpoint (`/varz`, `/jsz`), off when absent. */
  monitorListen?: string;
  /** When set, clients connect as `nats://TOKEN@host:port` and routes authenticate with it. */
  token?: string;
  maxMemoryStore?: string;
  maxFileStore?: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
/** Characters that need no quoting inside a NATS config string or a URL's userinfo. */
const TOKEN = /^[A-Za-z0-9._~-]{16,256}$/;

function hostPort(value: string, what: string): string {
  const match = HOST_PORT.exec(value.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535)
    throw storeConfigInvalid(`${what} '${value}' is not HOST:PORT`, `give it as e.g. 10.0.0.1:6222`);
  return value.trim();
}

export function renderNatsServerConfig(config: NatsServerConfig): string {
  if (!NAME.test(config.name))
    throw storeConfigInvalid(
      `the node name '${config.name}' is not valid`,
      'use letters, digits, - and _ (e.g. fra-1), a different one on each node',
    );
  const listen = hostPort(config.listen, 'the client listen address');
  const clusterListen = hostPort(config.clusterListen, 'the cluster listen address');
  const routes = config.routes.map((route) => hostPort(route, 'the route'));
  if (routes.length === 0)
    throw storeConfigInvalid(
      'no routes given',
      "list every node's cluster address (HOST:6222), this one's included",
    );
  if (config.token !== undefined && !TOKEN.test(config.token))
    throw storeConfigInvalid(
      'the token must be 16 to 256 characters of letters, digits, ., _, ~ and -',
      'make one with `openssl rand -hex 24`',
    );
  const clusterName = config.clusterName ?? 'nearby';
  if (!NAME.test(clusterName))
    throw storeConfigInvalid(
      `the cluster name '${clusterName}' is not valid`,
      'use letters, digits, - and _',
    );
  const userinfo = config.token === undefined ? '' : `nearby:${config.token}@`;
  const routeUrls = routes
    .filter((route) => route !== clusterListen)
    .map((route) => `"nats-route://${userinfo}${route}"`);
  const lines = [
    `# nats-server configuration for nearby's store, node ${config.name}.`,
    `# Start it with: nats-server -c <this file>`,
    `server_name: ${config.name}`,
    `listen: "${listen}"`,
    ...(config.monitorListen ? [`http: "${hostPort(config.monitorListen, 'the monitor address')}"`] : []),
    ...(config.token === undefined ? [] : [`authorization { token: "${config.token}" }`]),
    'jetstream {',
    `  store_dir: ${JSON.stringify(config.storeDir)}`,
    `  max_memory_store: ${config.maxMemoryStore ?? '256MB'}`,
    `  max_file_store: ${config.maxFileStore ?? '10GB'}`,
    '}',
    'cluster {',
    `  name: ${clusterName}`,
    `  listen: "${clusterListen}"`,
    ...(config.token === undefined ? [] : [`  authorization { user: nearby, password: "${config.token}" }`]),
    `  routes: [${routeUrls.join(', ')}]`,
    '}',
    '',
  ];
  return lines.join('\n');
}
