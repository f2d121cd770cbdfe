/**
 * What the host network's isolation needs from the store: each machine's organisation (from its
 * app's `org_slug`), and, when the agent starts, every machine this host has given addresses.
 */
import { NearbyError } from '../errors.ts';
import { type AppRecord, keys, type MachineStatus } from '../model/mod.ts';
import type { MachineMember } from '../net/types.ts';
import type { Store } from '../store/mod.ts';

/** The org of `app`; a machine whose app is gone is not attached (it could not be isolated). */
export async function appOrg(store: Store, app: string): Promise<string> {
  const record = await store.get<AppRecord>(keys.app(app));
  if (!record) {
    throw new NearbyError('APP_NOT_FOUND', `app '${app}' no longer exists: its machine gets no network`, {
      status: 404,
      hint: 'The machine is destroyed with its app; create the app again to run machines in it.',
    });
  }
  return record.value.org_slug;
}

/** Machines of this host with addresses, not destroyed, whose app still exists. */
export async function hostMembers(store: Store, host: string): Promise<MachineMember[]> {
  const orgs = new Map<string, string>();
  for (const { value } of await store.list<AppRecord>(keys.apps())) orgs.set(value.name, value.org_slug);
  const members: MachineMember[] = [];
  for (const { value } of await store.list<MachineStatus>(keys.machineStatuses(host))) {
    const org = orgs.get(value.app);
    if (!org || !value.ipv4 || !value.private_ip || value.state === 'destroyed') continue;
    members.push({ machineId: value.id, ipv4: value.ipv4, ipv6: value.private_ip, org });
  }
  return members;
}
