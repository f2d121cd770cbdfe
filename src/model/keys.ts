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
  token: (id: string) => `tokens/${id}`,
  tokens: () => 'tokens/',
} as const;

/** Log stream subjects: `logs.<app>.<region>.<machine>`. */
export const subjects = {
  logs: (app: string, region: string, machine: string) => `logs.${app}.${region}.${machine}`,
  appLogs: (app: string) => `logs.${app}.`,
} as const;

/** The last path segment of a key: the id in `machines/<app>/<id>`. */
export function keyTail(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}
