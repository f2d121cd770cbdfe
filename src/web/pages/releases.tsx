/** An app's releases, newest first; a rollout in progress shows as `running`. */
import type { ReleaseRecord } from '../types.ts';
import { ago, Loading } from './parts.tsx';

export function Releases({ app, releases }: { app: string; releases?: ReleaseRecord[] }) {
  return (
    <section>
      <h2>Releases</h2>
      {!releases ? (
        <Loading />
      ) : releases.length === 0 ? (
        <p class="empty">
          No releases yet: <code>nearby deploy</code> makes the first.
        </p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Version</th>
              <th>Status</th>
              <th>Strategy</th>
              <th>Image</th>
              <th>By</th>
              <th>Created</th>
              <th>Roll back</th>
            </tr>
          </thead>
          <tbody>
            {releases.map((r, index) => (
              <tr key={r.version}>
                <td>v{r.version}</td>
                <td>
                  <span
                    class={`state ${r.status === 'complete' ? 'ok' : r.status === 'running' || r.status === 'pending' ? 'warn' : 'bad'}`}
                  >
                    {r.status}
                  </span>
                  {r.reason && <span class="muted"> {r.reason.slice(0, 80)}</span>}
                </td>
                <td>{r.strategy}</td>
                <td>
                  <code>{r.image}</code>
                </td>
                <td>{r.user}</td>
                <td>{ago(r.created_at)}</td>
                <td>
                  {index > 0 && r.status === 'complete' && (
                    <code class="muted">
                      nearby releases rollback {r.version} -a {app}
                    </code>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
