/**
 * What happened to the app over time: its machines' wakes and stops (their own events, with the
 * reason: a request woke it, it was idle, a person asked) and the app's events (autoscaling
 * decisions, budget warnings and suspension), newest first, with a strip of the last hour.
 * Also the `[autoscale]` panel: the config, demand by region and the last decisions.
 */
import { useMemo } from 'preact/hooks';
import type { AppEvent, AutoscaleView, MachineView } from '../types.ts';
import { ago } from './parts.tsx';

export interface TimelineEntry {
  at: number;
  /** `wake`, `start`, `stop`, `autoscale`, `budget`, …: a CSS class too. */
  kind: string;
  text: string;
}

const STRIP_MS = 3_600_000;
const SHOWN = 60;
const WAKE_TYPES = new Set(['start', 'resume']);
const STOP_TYPES = new Set(['stop', 'suspend']);

/** Machine events that start or stop one, and the app's events, newest first. */
export function timeline(machines: MachineView[], events: AppEvent[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  for (const machine of machines) {
    for (const event of machine.events) {
      const wakes = WAKE_TYPES.has(event.type);
      if (!wakes && !STOP_TYPES.has(event.type)) continue;
      const reason = typeof event.request?.reason === 'string' ? event.request.reason : undefined;
      const kind = wakes ? (reason === 'request' ? 'wake' : 'start') : 'stop';
      const why =
        reason === 'request'
          ? 'woken by a request'
          : reason === 'idle'
            ? 'idle'
            : reason
              ? `by ${reason}`
              : '';
      entries.push({
        at: event.timestamp,
        kind,
        text: `${machine.id} (${machine.region}) ${event.type}${why ? `: ${why}` : ''}`,
      });
    }
  }
  for (const event of events) {
    entries.push({ at: Date.parse(event.timestamp), kind: event.source, text: event.message });
  }
  return entries.sort((a, b) => b.at - a.at);
}

export function Timeline({ machines, events }: { machines: MachineView[]; events: AppEvent[] }) {
  // Not again for every log line the page receives.
  const entries = useMemo(() => timeline(machines, events), [machines, events]);
  const now = Date.now();
  const recent = entries.filter((entry) => now - entry.at < STRIP_MS);
  return (
    <section>
      <h2>Timeline</h2>
      {entries.length === 0 ? (
        <p class="empty">No wakes, stops or autoscaling yet.</p>
      ) : (
        <>
          <svg class="strip" viewBox="0 0 600 24" role="img" aria-label="events of the last hour">
            <line x1={0} y1={12} x2={600} y2={12} />
            {recent.map((entry, index) => (
              <circle
                key={index}
                class={entry.kind}
                cx={600 - ((now - entry.at) / STRIP_MS) * 600}
                cy={12}
                r={4}
              >
                <title>{`${new Date(entry.at).toLocaleTimeString()} ${entry.text}`}</title>
              </circle>
            ))}
          </svg>
          <ol class="timeline">
            {entries.slice(0, SHOWN).map((entry, index) => (
              <li key={index} class={entry.kind} data-kind={entry.kind}>
                <span class="muted" title={new Date(entry.at).toISOString()}>
                  {ago(new Date(entry.at).toISOString())}
                </span>{' '}
                <span class={`chip ${entry.kind}`}>{entry.kind}</span> {entry.text}
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

const seconds = (ms: number) => `${Math.round(ms / 1000)}s`;

export function Autoscale({ view }: { view: AutoscaleView }) {
  const { config } = view;
  if (!config) return null;
  return (
    <section class="autoscale">
      <h2>Autoscale</h2>
      <p class="aside">
        {config.min_machines}–{config.max_machines} machines, {config.target_concurrency} concurrent requests
        each, steps +{config.scale_up_step}/−{config.scale_down_step}, cooldown {seconds(config.cooldown)}
        {config.regions.length > 0 && `, in ${config.regions.join(', ')}`}
        {view.deploying && ' (waiting for a rollout)'}
      </p>
      {view.regions.length > 0 && (
        <table>
          <thead>
            <tr>
              <th>Region</th>
              <th>Machines</th>
              <th>Entered/s</th>
              <th>In flight</th>
              <th>Served far</th>
            </tr>
          </thead>
          <tbody>
            {view.regions.map((region) => (
              <tr key={region.region}>
                <td>{region.region}</td>
                <td>
                  {region.started}/{region.machines}
                </td>
                <td>{region.entered_rps}</td>
                <td>{region.entered_concurrency}</td>
                <td>
                  {region.far_rps > 0
                    ? `${region.far_rps}/s in ${region.far_served_in ?? '?'} (${region.far_rtt_ms} ms)`
                    : '—'}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ul class="decisions">
        {view.decisions
          .slice(-5)
          .reverse()
          .map((decision, index) => (
            <li key={index}>
              <span class="muted">{ago(decision.at)}</span> {decision.action} {decision.count} in{' '}
              {decision.region}: {decision.reason}
            </li>
          ))}
      </ul>
    </section>
  );
}
