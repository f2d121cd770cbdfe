/** The layout of keys in the store (DESIGN.md §2): the one place that spells them. */
export const keys = {
  app: (app: string) => `apps/${app}`,
  apps: () => 'apps/',
  machine: (app: string, id: string) => `machines/${app}/${id}`,
  machines: (app?: string) => (app === undefined ? 'machines/' : `machines/${app}/`),
  machineStatus: (host: string, id: string) => `machine-status/${host}/${id}`,
  machineStatuses: (host?: string) => (host === undefined ? 'machine-status/' : `machine-status/${host}/`),
  host: (host: string) => `hosts/${host}`,
  hosts: () => 'hosts/',
  /** A host subnet claimed out of the cluster's pool (`SubnetClaim`), by compare-and-set. */
  subnet: (family: 'ipv4' | 'ipv6', subnet: string) => `subnets/${family}/${subnet.replace('/', '_')}`,
  subnets: (family: 'ipv4' | 'ipv6') => `subnets/${family}/`,
  /** An edge proxy's record (`ProxyRecord`), written by that proxy. */
  proxy: (host: string) => `proxies/${host}`,
  proxies: () => 'proxies/',
  /** What one proxy saw of its host's machines (`MachineActivityRecord`), for its region's autostop. */
  machineActivity: (region: string, host: string) => `machine-activity/${region}/${host}`,
  machineActivities: (region: string) => `machine-activity/${region}/`,
  /** A lease on a singleton's work (`LeaseRecord`): holder and expiry, taken by compare-and-set. */
  lease: (name: string) => `leases/${name}`,
  /** What one API allowed in its last second, by rate-limit bucket (`RateUsageRecord`). */
  rateUsage: (api: string) => `rate-usage/${api}`,
  rateUsages: () => 'rate-usage/',
  token: (id: string) => `tokens/${id}`,
  tokens: () => 'tokens/',
  /** A certificate the proxy serves (`CertRecord`), by host name. */
  cert: (hostname: string) => `certs/${hostname}`,
  certs: () => 'certs/',
  /** What was asked for a host name and how it went (`CertRequest`), written by the cert manager. */
  certRequest: (hostname: string) => `cert-requests/${hostname}`,
  certRequests: () => 'cert-requests/',
  /** An ACME HTTP-01 answer the proxy serves at /.well-known/acme-challenge/<token>. */
  acmeChallenge: (token: string) => `acme-challenges/${token}`,
  /** The ACME account for one directory URL (by its SHA-256). */
  acmeAccount: (directoryHash: string) => `acme-accounts/${directoryHash}`,
  /** The local CA's certificate (`LocalCaRecord`), for `nearby certs ca`; its key stays on disk. */
  localCa: () => 'local-ca',
  /** Which secrets key seals the store's secrets (`SecretKeyRecord`): a fingerprint, never the key. */
  secretsKey: () => 'secrets-key',
  secret: (app: string, name: string) => `secrets/${app}/${name}`,
  secrets: (app: string) => `secrets/${app}/`,
  /** A one-time leave for a console session on a host's TCP listener (`ConsoleGrant`). */
  consoleGrant: (host: string, digest: string) => `console-grants/${host}/${digest}`,
  /** One-off work for an agent (exec, signal, ps) and its answer. */
  machineRequest: (host: string, requestId: string) => `machine-requests/${host}/${requestId}`,
  machineRequests: (host: string) => `machine-requests/${host}/`,
  machineReply: (requestId: string) => `machine-replies/${requestId}`,
  /** A volume (`VolumeRecord`), written by the control plane. */
  volume: (app: string, id: string) => `volumes/${app}/${id}`,
  volumes: (app?: string) => (app === undefined ? 'volumes/' : `volumes/${app}/`),
  /** What the volume's agent reports (`VolumeStatus`). */
  volumeStatus: (host: string, id: string) => `volume-status/${host}/${id}`,
  snapshot: (app: string, volume: string, id: string) => `volume-snapshots/${app}/${volume}/${id}`,
  snapshots: (app?: string, volume?: string) =>
    app === undefined
      ? 'volume-snapshots/'
      : volume === undefined
        ? `volume-snapshots/${app}/`
        : `volume-snapshots/${app}/${volume}/`,
  snapshotStatus: (host: string, id: string) => `snapshot-status/${host}/${id}`,
  /** One deploy of an app (`ReleaseRecord`); the version is zero-padded so keys sort by it. */
  release: (app: string, version: number) => `releases/${app}/${String(version).padStart(8, '0')}`,
  releases: (app: string) => `releases/${app}/`,
  /** What one proxy counted of an app's demand (`DemandRecord`), written by that proxy. */
  demand: (app: string, host: string) => `demand/${app}/${host}`,
  demands: (app?: string) => (app === undefined ? 'demand/' : `demand/${app}/`),
  /** The autoscaler's recent decisions for an app (`AutoscaleDecisionsRecord`). */
  autoscaleDecisions: (app: string) => `autoscale/decisions/${app}`,
} as const;

/** Stream subjects: machine logs `logs.<app>.<region>.<machine>`, app events `events.<app>.<source>`. */
export const subjects = {
  logs: (app: string, region: string, machine: string) => `logs.${app}.${region}.${machine}`,
  appLogs: (app: string) => `logs.${app}.`,
  events: (app: string, source: string) => `events.${app}.${source}`,
  appEvents: (app: string) => `events.${app}.`,
} as const;

/** The last path segment of a key: the id in `machines/<app>/<id>`. */
export function keyTail(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
