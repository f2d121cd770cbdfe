/**
 * An app's releases, newest first (a rollout in progress shows as `running`), and going back to
 * one: the CLI's own rollback (src/cli/deploy/rollback.ts) run here through the public API.
 */
import { useState } from 'preact/hooks';
import { rollBackTo } from '../../cli/deploy/rollback.ts';
import { apiCalls } from '../api.ts';
import type { ReleaseRecord } from '../types.ts';
import { ago, Failure, Loading } from './parts.tsx';

const ROLLBACK_TIMEOUT_MS = 120_000;

export function Releases(props: { app: string; releases?: ReleaseRecord[]; onChange: () => void }) {
  const { app, releases, onChange } = props;
  const [asked, setAsked] = useState<number>();
  const [running, setRunning] = useState(false);
  const [lines, setLines] = useState<string[]>([]);
  const [error, setError] = useState<Error>();
  const rollBack = async (version: number) => {
    setAsked(undefined);
    setRunning(true);
    setError(undefined);
    setLines([]);
    try {
      await rollBackTo({
        api: apiCalls,
        app,
        version,
        out: (text) => setLines((old) => [...old, text]),
        signal: new AbortController().signal,
        timeoutMs: ROLLBACK_TIMEOUT_MS,
      });
    } catch (failure) {
      setError(failure as Error);
    } finally {
      setRunning(false);
      onChange();
    }
  };
  return (
    <section>
      <h2>Releases</h2>
      {asked !== undefined && (
        <p class="confirm">
          Roll {app} back to v{asked}? Its machines are replaced one at a time with that release's image and
          config, as a new release.{' '}
          <button type="button" onClick={() => rollBack(asked)}>
            Roll back to v{asked}
          </button>{' '}
          <button type="button" onClick={() => setAsked(undefined)}>
            Cancel
          </button>
        </p>
      )}
      {error && <Failure error={error} />}
      {lines.length > 0 && <pre class="progress">{lines.join('\n')}</pre>}
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
                  <code class="clip" title={r.image}>
                    {r.image}
                  </code>
                </td>
                <td>{r.user}</td>
                <td>{ago(r.created_at)}</td>
                <td>
                  {index > 0 && r.status === 'complete' && (
                    <button
                      type="button"
                      disabled={running}
                      title={`nearby releases rollback ${r.version} -a ${app}`}
                      onClick={() => setAsked(r.version)}
                    >
                      roll back to v{r.version}
                    </button>
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
