/**
 * What a registry token may do: repositories are named after apps (`<app>` or `<app>/<name>`), and a
 * nearby API token gets pull and push on the repositories of the apps it can act on, nothing else.
 * The admin token gets what it asks; the server's internal credential (agents, the control plane)
 * and a host token (other hosts' agents) pull anything and push nothing.
 */
import { canAccessApp } from '../api/auth.ts';
import { type AppRecord, keys, type TokenRecord } from '../model/mod.ts';
import type { Store } from '../store/mod.ts';
import type { AccessEntry } from './jwt.ts';

export type Grantee = { kind: 'internal' } | { kind: 'token'; token: TokenRecord };

/** Parses `repository:team/app:pull,push` (the resource type may carry a class: `repository(plugin)`). */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const name = scope.slice(first + 1, last);
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((action) => action.trim())
    .filter(Boolean);
  if (!name || actions.length === 0) return undefined;
  return { type: scope.slice(0, first).replace(/\(.*\)$/, ''), name, actions };
}

/** The app a repository belongs to: its first path component. */
export function repositoryApp(repository: string): string {
  return repository.split('/')[0];
}

/** The subset of the requested scopes the grantee may have; what it may not is left out. */
export async function grantAccess(store: Store, grantee: Grantee, scopes: string[]): Promise<AccessEntry[]> {
  const granted: AccessEntry[] = [];
  for (const scope of scopes) {
    const wanted = parseScope(scope);
    if (!wanted) continue;
    const actions = await allowedActions(store, grantee, wanted);
    if (actions.length) granted.push({ ...wanted, actions });
  }
  return granted;
}

async function allowedActions(store: Store, grantee: Grantee, wanted: AccessEntry): Promise<string[]> {
  if (grantee.kind === 'token' && grantee.token.kind === 'admin') return wanted.actions;
  if (wanted.type !== 'repository') return [];
  // The server's own pulls, and hosts' agents: any app's images, read only.
  if (grantee.kind === 'internal' || grantee.token.kind === 'host')
    return wanted.actions.filter((action) => action === 'pull');
  const app = (await store.get<AppRecord>(keys.app(repositoryApp(wanted.name))))?.value;
  if (!app || !canAccessApp(grantee.token, app)) return [];
  return wanted.actions.filter((action) => action === 'pull' || action === 'push');
}
