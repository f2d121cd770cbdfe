/**
 * `nearby server` settings: flags, then `NEARBY_*` environment variables, then defaults. The
 * effective settings are saved in the data dir so `nearby host clean` knows what to remove.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { defaultDataDir } from '../cli/client.ts';
import type { Values } from '../cli/command.ts';

export interface ServerSettings {
  dataDir: string;
  apiListen: string;
  proxyListen: string;
  region: string;
  hostName: string;
  appsDomain: string;
  runtime: 'auto' | 'crun' | 'runc';
  bridge: string;
  ipv4Cidr: string;
  ipv6Cidr: string;
  insecureRegistries: string[];
  logFormat: 'json' | 'text';
}

export const serverOptions = {
  'data-dir': { type: 'string' },
  'api-listen': { type: 'string' },
  'proxy-listen': { type: 'string' },
  region: { type: 'string' },
  'host-name': { type: 'string' },
  'apps-domain': { type: 'string' },
  runtime: { type: 'string' },
  bridge: { type: 'string' },
  'machine-cidr': { type: 'string' },
  'machine-cidr6': { type: 'string' },
  'insecure-registry': { type: 'string', multiple: true },
  'log-format': { type: 'string' },
} as const;

export function serverSettings(values: Values, env = process.env): ServerSettings {
  const pick = (flag: string, name: string, fallback: string) =>
    (values[flag] as string | undefined) ?? env[`NEARBY_${name}`] ?? fallback;
  const runtime = pick('runtime', 'RUNTIME', 'auto');
  if (!['auto', 'crun', 'runc'].includes(runtime))
    throw new Error(`--runtime: expected crun, runc or auto, got '${runtime}'`);
  const insecure =
    (values['insecure-registry'] as string[] | undefined) ?? env.NEARBY_INSECURE_REGISTRIES?.split(',');
  return {
    dataDir: pick('data-dir', 'DATA_DIR', defaultDataDir()),
    apiListen: pick('api-listen', 'API_LISTEN', '127.0.0.1:4280'),
    proxyListen: pick('proxy-listen', 'PROXY_LISTEN', '0.0.0.0:8080'),
    region: pick('region', 'REGION', 'local'),
    hostName: pick('host-name', 'HOST_NAME', hostname()),
    appsDomain: pick('apps-domain', 'APPS_DOMAIN', 'localhost'),
    runtime: runtime as ServerSettings['runtime'],
    bridge: pick('bridge', 'BRIDGE', 'nearby0'),
    ipv4Cidr: pick('machine-cidr', 'MACHINE_CIDR', '172.19.0.0/16'),
    ipv6Cidr: pick('machine-cidr6', 'MACHINE_CIDR6', 'fdaa:0:1::/64'),
    insecureRegistries: (insecure ?? []).filter(Boolean),
    logFormat:
      pick('log-format', 'LOG_FORMAT', process.stderr.isTTY ? 'text' : 'json') === 'json' ? 'json' : 'text',
  };
}

export const settingsFile = (dataDir: string) => join(dataDir, 'server.json');
