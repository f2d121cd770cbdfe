/** An app's machines: state, health checks, release, host, and the actions the CLI has. */
import { useEffect, useState } from 'preact/hooks';
import { call, machine as machinePath } from '../api.ts';
import type { AppActivity, CheckResult, MachineView, ReleaseRecord } from '../types.ts';
import { ago, Failure, stateTone } from './parts.tsx';

const ACTIONS = ['start', 'stop', 'restart', 'suspend'] as const;
type Action = (typeof ACTIONS)[number];

/** Which actions make sense in a state (the API refuses the others with a reason anyway). */
function allowed(action: Action, state: string): boolean {
  if (action === 'start') return state === 'stopped' || state === 'suspended' || state === 'failed';
  return state === 'started';
}

/** The release a machine runs: the newest whose image digest is the machine's. */
function releaseOf(m: MachineView, releases: ReleaseRecord[]): string {
  const release = releases.find((r) => r.image_ref.digest === m.image_ref?.digest);
  return release ? `v${release.version}` : '';
}

export function Machines(props: {
  app: string;
  machines: MachineView[];
  activity?: AppActivity;
  releases: ReleaseRecord[];
}) {
  const { app, machines, activity, releases } = props;
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState<string>();
  const act = async (m: MachineView, action: Action) => {
    setBusy(`${m.id}:${action}`);
    setError(undefined);
    try {
      await call('POST', `${machinePath(app, m.id)}/${action}`);
    } catch (failure) {
      setError(failure as Error);
    } finally {
      setBusy(undefined);
    }
  };
  return (
    <section>
      <h2>Machines</h2>
      {error && <Failure error={error} />}
      {machines.length === 0 ? (
        <p class="empty">
          No machines: <code>nearby deploy</code> starts some.
        </p>
      ) : (
        <table class="machines">
          <thead>
            <tr>
              <th>ID</th>
              <th>Name</th>
              <th>State</th>
              <th>Health</th>
              <th>Region</th>
              <th>Release</th>
              <th>Host</th>
              <th title="open sessions and the last request, as its host's edge proxy last saw them">
                Traffic
              </th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {machines.map((m) => (
              <tr key={m.id} data-machine={m.id}>
                <td>
                  <code>{m.id}</code>
                </td>
                <td>{m.name}</td>
                <td>
                  <span class={`state ${stateTone(m.state)}`} data-state={m.state}>
                    {m.state}
                  </span>
                  {m.host_status === 'unreachable' && <span class="state bad">host unreachable</span>}
                </td>
                <td>
                  <Health app={app} machine={m} />
                </td>
                <td>{m.region}</td>
                <td>{releaseOf(m, releases)}</td>
                <td>{m.nearby.host}</td>
                <td class="traffic">
                  <Traffic seen={activity?.machines[m.id]} />
                </td>
                <td>{ago(m.updated_at)}</td>
                <td class="actions">
                  {ACTIONS.map((action) => (
                    <button
                      type="button"
                      key={action}
                      disabled={!allowed(action, m.state) || busy !== undefined}
                      onClick={() => act(m, action)}
                    >
                      {busy === `${m.id}:${action}` ? '…' : action}
                    </button>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Traffic({ seen }: { seen?: AppActivity['machines'][string] }) {
  if (!seen) return <span class="muted">—</span>;
  return (
    <span title={`${seen.sessions} open sessions; last request ${seen.last_active_at}`}>
      {seen.sessions} open, last {ago(seen.last_active_at)}
    </span>
  );
}

/** Runs the machine's checks (`GET …/checks`) while it is started, again when its state changes. */
function Health({ app, machine }: { app: string; machine: MachineView }) {
  const [checks, setChecks] = useState<CheckResult[]>();
  const hasChecks = Boolean(
    machine.config.checks || machine.config.services?.some((s) => (s.checks?.length ?? 0) > 0),
  );
  useEffect(() => {
    setChecks(undefined);
    if (!hasChecks || machine.state !== 'started') return;
    const controller = new AbortController();
    call<{ checks: CheckResult[] }>('GET', `${machinePath(app, machine.id)}/checks`, undefined, {
      signal: controller.signal,
    }).then(
      (answer) => setChecks(answer.checks),
      () => {},
    );
    return () => controller.abort();
  }, [app, machine.id, machine.state, machine.updated_at, hasChecks]);
  if (!hasChecks) return <span class="muted">no checks</span>;
  if (!checks) return <span class="muted">{machine.state === 'started' ? '…' : '—'}</span>;
  const passing = checks.filter((c) => c.status === 'passing').length;
  return (
    <span
      class={`state ${passing === checks.length ? 'ok' : 'bad'}`}
      title={checks.map((c) => `${c.name}: ${c.status} ${c.output}`).join('\n')}
    >
      {passing}/{checks.length} passing
    </span>
  );
}
