/** An org's month so far (per app, with a forecast) against its budget, and setting the budget. */
import { useState } from 'preact/hooks';
import { call, org as orgPath } from '../api.ts';
import type { Budget, OrgUsage } from '../types.ts';
import { useFetch } from '../use-fetch.ts';
import { Failure, Loading, usd } from './parts.tsx';

export function Billing({ org }: { org: string }) {
  const usage = useFetch<OrgUsage>(`${orgPath(org)}/billing/usage`, 30_000);
  const budget = useFetch<{ budget: Budget | null }>(`${orgPath(org)}/budget`);
  const [error, setError] = useState<Error>();
  const [saved, setSaved] = useState(false);
  const cap = budget.data?.budget?.cap_usd;
  const save = async (event: Event) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    setError(undefined);
    setSaved(false);
    try {
      const body: Budget = { cap_usd: Number(form.get('cap')) };
      const shrink = String(form.get('shrink') ?? '');
      if (shrink) body.shrink_at_percent = Number(shrink);
      await call('PUT', `${orgPath(org)}/budget`, body);
      setSaved(true);
      budget.reload();
    } catch (failure) {
      setError(failure as Error);
    }
  };
  if (usage.error) return <Failure error={usage.error} />;
  if (!usage.data || !budget.data) return <Loading />;
  const { spent_usd, forecast_usd, month, apps } = usage.data;
  const percent = cap ? Math.min(100, (spent_usd / cap) * 100) : 0;
  return (
    <main>
      <h1>{org}: usage and budget</h1>
      <section class="figures">
        <div>
          <b>{usd(spent_usd)}</b> spent in {month}
        </div>
        <div>
          <b>{usd(forecast_usd)}</b> forecast for the month
        </div>
        <div>
          <b>{cap === undefined ? 'no cap' : usd(cap)}</b> budget
        </div>
      </section>
      {cap !== undefined && (
        <div class="meter" title={`${percent.toFixed(0)}% of the budget`}>
          <div class={percent >= 80 ? 'bad' : 'ok'} style={{ width: `${percent}%` }} />
        </div>
      )}
      <table>
        <thead>
          <tr>
            <th>App</th>
            <th>Spent</th>
            <th>Forecast</th>
            <th>Machine hours</th>
            <th>Egress MB</th>
          </tr>
        </thead>
        <tbody>
          {apps.map((a) => (
            <tr key={a.app}>
              <td>
                <a href={`/apps/${encodeURIComponent(a.app)}`}>{a.app}</a>
              </td>
              <td>{usd(a.spent_usd)}</td>
              <td>{usd(a.forecast_usd)}</td>
              <td>{(a.machine_seconds / 3600).toFixed(2)}</td>
              <td>{(a.egress_bytes / 1e6).toFixed(1)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Set the budget</h2>
      <form class="inline" onSubmit={save}>
        Monthly cap $
        <input
          name="cap"
          type="number"
          min="0"
          step="0.01"
          required
          value={cap ?? ''}
          aria-label="monthly cap in USD"
        />
        shrink apps at
        <input
          name="shrink"
          type="number"
          min="1"
          max="100"
          value={budget.data.budget?.shrink_at_percent ?? ''}
          placeholder="80"
          aria-label="shrink at percent"
        />
        %<button type="submit">Save</button>
        {saved && <span class="state ok">saved</span>}
      </form>
      {error && <Failure error={error} />}
    </main>
  );
}
