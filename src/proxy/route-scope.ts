/**
 * Incremental passes (docs/perf.md, "Routing across hosts"): a store change that touches some apps
 * recomputes those apps' routes only. These pure helpers say whether such a partial table keeps
 * the configuration's structure (else a full pass, with a reload, is needed) and merge it into the
 * last full table.
 */
import type { RouteTable, WantedBackend, WantedFrontend } from './routes.ts';

/** What of a backend the rendered configuration depends on (`structureKey`): all but its servers. */
export function backendShape(backend: WantedBackend): string {
  const { servers: _servers, backup, ...rest } = backend;
  return JSON.stringify({ ...rest, backup: backup === undefined ? null : { ...backup, enabled: false } });
}

const frontendShape = (frontend: WantedFrontend) => JSON.stringify(frontend);

/**
 * Whether `partial` (the routes of `apps` alone) has the same backends, backend shapes,
 * frontends and host names for these apps as `base` (the routes HAProxy's configuration was
 * rendered from). True: the servers of these backends are all that may differ, and the Runtime
 * API applies them without a reload.
 */
export function sameStructure(base: RouteTable, partial: RouteTable, apps: ReadonlySet<string>): boolean {
  const before = base.backends.filter((backend) => apps.has(backend.app));
  if (before.length !== partial.backends.length) return false;
  const shapes = new Map(before.map((backend) => [backend.name, backendShape(backend)]));
  for (const backend of partial.backends) {
    if (!apps.has(backend.app) || shapes.get(backend.name) !== backendShape(backend)) return false;
  }
  const frontendsBefore = base.frontends.filter((frontend) => apps.has(frontend.app)).map(frontendShape);
  const frontendsNow = partial.frontends.map(frontendShape);
  if (frontendsBefore.join('\n') !== frontendsNow.join('\n')) return false;
  const names = new Set(before.map((backend) => backend.name));
  const hostsBefore = [...base.hosts].filter(([, backend]) => names.has(backend));
  if (hostsBefore.length !== partial.hosts.size) return false;
  return hostsBefore.every(([host, backend]) => partial.hosts.get(host) === backend);
}

/** `base` with the backends of `partial` (same names, `sameStructure`) in place of its own. */
export function mergeRoutes(base: RouteTable, partial: RouteTable): RouteTable {
  const replaced = new Map(partial.backends.map((backend) => [backend.name, backend]));
  return {
    ...base,
    backends: base.backends.map((backend) => replaced.get(backend.name) ?? backend),
  };
}

/** The routes of `apps` alone out of a whole table: what `wantedApps` would compute for them. */
export function scopeRoutes(routes: RouteTable, apps: ReadonlySet<string>): RouteTable {
  const backends = routes.backends.filter((backend) => apps.has(backend.app));
  const names = new Set(backends.map((backend) => backend.name));
  return {
    backends,
    frontends: routes.frontends.filter((frontend) => apps.has(frontend.app)),
    hosts: new Map([...routes.hosts].filter(([, backend]) => names.has(backend))),
    certs: [],
    skipped: [],
  };
}

/**
 * The apps whose servers differ between `base` and `wanted` (whole tables), or undefined when
 * the structure differs (other backends, shapes, frontends or host names: a full pass reloads).
 */
export function changedApps(base: RouteTable, wanted: RouteTable): Set<string> | undefined {
  if (base.backends.length !== wanted.backends.length) return undefined;
  if (JSON.stringify(base.frontends) !== JSON.stringify(wanted.frontends)) return undefined;
  if (base.hosts.size !== wanted.hosts.size) return undefined;
  for (const [host, backend] of wanted.hosts) if (base.hosts.get(host) !== backend) return undefined;
  const before = new Map(base.backends.map((backend) => [backend.name, backend]));
  const changed = new Set<string>();
  for (const backend of wanted.backends) {
    const old = before.get(backend.name);
    if (old === undefined || backendShape(old) !== backendShape(backend)) return undefined;
    if (JSON.stringify(old.servers) !== JSON.stringify(backend.servers)) changed.add(backend.app);
  }
  return changed;
}
