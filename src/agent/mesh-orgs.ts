/**
 * Feeds the receiving side of the mesh's org check (src/net/mesh-rules.ts): every started-or-not
 * machine with addresses, here or on another host, by its app's org. Follows `machine-status/` of
 * every host; the table is replaced only when the addresses changed (statuses are rewritten often).
 */
import { type AppRecord, keys, type MachineStatus } from '../model/mod.ts';
import { applyMeshGuard, type MeshOrg } from '../net/mesh-rules.ts';
import { follow } from '../store/follow.ts';
import type { Store } from '../store/mod.ts';
import type { OutageLog } from '../store/outage.ts';

/** `machine-status/<host>/<id>` → host. */
const statusHost = (key: string) => key.slice(keys.machineStatuses().length).split('/')[0];

/** The orgs' machines as this host sees them; a machine whose app (so org) is unknown is in none. */
export function meshOrgs(
  self: string,
  statuses: Map<string, MachineStatus>,
  orgOf: (app: string) => string | undefined,
): Map<string, MeshOrg> {
  const orgs = new Map<string, MeshOrg>();
  for (const [key, status] of [...statuses].sort(([x], [y]) => x.localeCompare(y))) {
    const org = orgOf(status.app);
    if (!org || status.state === 'destroyed') continue;
    const entry = orgs.get(org) ?? { local6: [], local4: [], remote6: [], remote4: [] };
    orgs.set(org, entry);
    const here = statusHost(key) === self;
    if (status.private_ip) (here ? entry.local6 : entry.remote6).push(status.private_ip);
    if (status.ipv4) (here ? entry.local4 : entry.remote4).push(status.ipv4);
  }
  return orgs;
}

export async function followMeshOrgs(
  store: Store,
  self: string,
  mesh: { bridge: string; meshInterface: string },
  options: { signal: AbortSignal; log: OutageLog },
): Promise<void> {
  const statuses = new Map<string, MachineStatus>();
  /** An app's org never changes: read once per app. */
  const appOrgs = new Map<string, string>();
  let applied = '';
  let synced = false;
  const events = follow<MachineStatus>(store, keys.machineStatuses(), { ...options, what: 'mesh orgs' });
  for await (const event of events) {
    if (event.type === 'put') statuses.set(event.key, event.value);
    else if (event.type === 'delete') statuses.delete(event.key);
    else synced = true;
    if (!synced) continue;
    for (const { app } of statuses.values()) {
      if (appOrgs.has(app)) continue;
      const record = await store.get<AppRecord>(keys.app(app)).catch(() => undefined);
      if (record) appOrgs.set(app, record.value.org_slug);
    }
    const orgs = meshOrgs(self, statuses, (app) => appOrgs.get(app));
    const wanted = JSON.stringify([...orgs]);
    if (wanted === applied) continue;
    // A failed nft run is tried again with the next change; the table kept meanwhile is the last one.
    await applyMeshGuard(mesh.bridge, mesh.meshInterface, orgs).then(
      () => (applied = wanted),
      (error) => options.log.warn({ err: error }, 'mesh org sets not applied'),
    );
  }
}
