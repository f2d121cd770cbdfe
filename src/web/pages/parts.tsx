/** Small pieces every page uses: loading, an error as the API said it, relative times. */
import { ApiError } from '../api.ts';

export const Loading = () => <p class="loading">Loading…</p>;

export function Failure({ error }: { error: Error }) {
  return (
    <p class="error" role="alert">
      {error.message}
      {error instanceof ApiError && error.hint && <span class="hint"> — {error.hint}</span>}
    </p>
  );
}

export function ago(iso: string | undefined): string {
  if (!iso) return '';
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

/** `ok` for a machine that runs, `off` for one at rest, `warn` on the way, `bad` when it failed. */
export function stateTone(state: string): string {
  if (state === 'started') return 'ok';
  if (state === 'stopped' || state === 'suspended' || state === 'destroyed') return 'off';
  if (state === 'failed') return 'bad';
  return 'warn';
}

export const usd = (n: number) => `$${n.toFixed(2)}`;
