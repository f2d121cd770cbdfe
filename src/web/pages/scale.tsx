/**
 * Machines per process group and region, and `nearby scale count N --region R` for one of them:
 * the CLI's own steps (src/cli/scale-steps.ts, src/cli/region-spread.ts) through the public API.
 */
import { useState } from 'preact/hooks';
import { additions, evenTargets } from '../../cli/region-spread.ts';
import { addLike, groupOf, newestFirst, remove, surplusIn } from '../../cli/scale-steps.ts';
import { apiCalls } from '../api.ts';
import type { MachineView, PlatformInfo } from '../types.ts';
import { useFetch } from '../use-fetch.ts';
import { Failure } from './parts.tsx';

async function scaleRegion(
  app: string,
  machines: MachineView[],
  group: string,
  region: string,
  target: number,
  out: (text: string) => void,
) {
  const inGroup = machines.filter((m) => groupOf(m) === group).sort(newestFirst);
  const current = new Map([[region, inGroup.filter((m) => m.region === region).length]]);
  const targets = evenTargets([region], current, target);
  out(`Group ${group} in ${region}: ${current.get(region)} → ${target}`);
  for (const where of additions(current, targets)) await addLike(apiCalls, app, inGroup[0], where, out);
  for (const machine of surplusIn(inGroup, region, (current.get(region) ?? 0) - target))
    await remove(apiCalls, app, machine, out);
  out('Done');
}

export function Scale({ app, machines }: { app: string; machines: MachineView[] }) {
  const platform = useFetch<PlatformInfo>('/v1/platform');
  const [lines, setLines] = useState<string[]>([]);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const groups = [...new Set(machines.map(groupOf))].sort();
  if (groups.length === 0) return null;
  const regions = [...new Set([...(platform.data?.regions ?? []), ...machines.map((m) => m.region)])].sort();
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setBusy(true);
    setError(undefined);
    setLines([]);
    try {
      await scaleRegion(
        app,
        machines,
        String(form.get('group')),
        String(form.get('region')),
        Number(form.get('count')),
        (line) => setLines((old) => [...old, line]),
      );
    } catch (failure) {
      setError(failure as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section>
      <h2>Scale</h2>
      <table>
        <thead>
          <tr>
            <th>Group</th>
            {regions.map((r) => (
              <th key={r}>{r}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr key={g}>
              <td>{g}</td>
              {regions.map((r) => (
                <td key={r}>{machines.filter((m) => groupOf(m) === g && m.region === r).length}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <form class="inline" onSubmit={submit}>
        Run
        <input name="count" type="number" min="0" max="100" required value="1" aria-label="machine count" />
        machines of
        <select name="group" aria-label="process group">
          {groups.map((g) => (
            <option key={g}>{g}</option>
          ))}
        </select>
        in
        <select name="region" aria-label="region">
          {regions.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <button type="submit" disabled={busy}>
          {busy ? 'Scaling…' : 'Scale'}
        </button>
      </form>
      {error && <Failure error={error} />}
      {lines.length > 0 && <pre class="progress">{lines.join('\n')}</pre>}
    </section>
  );
}
