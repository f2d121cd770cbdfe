/** Organisations and their apps: what this token can see, each app with its machine count. */
import type { AppView } from '../types.ts';
import { useFetch } from '../use-fetch.ts';
import { Failure, Loading } from './parts.tsx';

export function Apps() {
  const { data, error } = useFetch<{ apps: AppView[] }>('/v1/apps', 10_000);
  if (error && !data) return <Failure error={error} />;
  if (!data) return <Loading />;
  const orgs = new Map<string, AppView[]>();
  for (const app of data.apps)
    orgs.set(app.organization.slug, [...(orgs.get(app.organization.slug) ?? []), app]);
  return (
    <main>
      <h1>Apps</h1>
      {orgs.size === 0 && (
        <p class="empty">
          No apps yet: <code>nearby launch</code> creates one, <code>nearby deploy</code> starts it.
        </p>
      )}
      {[...orgs]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([org, apps]) => (
          <section key={org}>
            <h2>
              {org}{' '}
              <a class="aside" href={`/orgs/${encodeURIComponent(org)}/billing`}>
                usage and budget
              </a>
            </h2>
            <table>
              <thead>
                <tr>
                  <th>App</th>
                  <th>Status</th>
                  <th>Machines</th>
                  <th>Created</th>
                </tr>
              </thead>
              <tbody>
                {apps
                  .sort((a, b) => a.name.localeCompare(b.name))
                  .map((app) => (
                    <tr key={app.name}>
                      <td>
                        <a href={`/apps/${encodeURIComponent(app.name)}`}>{app.name}</a>
                      </td>
                      <td>{app.status}</td>
                      <td>{app.machine_count}</td>
                      <td>{new Date(app.created_at).toLocaleString()}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </section>
        ))}
    </main>
  );
}
