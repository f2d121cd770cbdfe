/**
 * Something the platform did to or for an app as a whole, as it travels on the stream
 * `events.<app>.<source>`: an autoscaling decision, a budget warning, the suspension at the cap and the
 * return. Machine-level events stay on the machine (`MachineEvent`); these are what `nearby events`
 * and the dashboard show for the app.
 */
import type { Store } from '../store/types.ts';
import { subjects } from './keys.ts';

export interface AppEvent {
  timestamp: string;
  /** Who decided: `autoscale`, `budget`, … */
  source: string;
  /** What happened, short: `machine_added`, `warning`, `suspended`, `resumed`, … */
  type: string;
  /** One line a person reads. */
  message: string;
  /** The figures behind the decision. */
  details?: Record<string, unknown>;
}

export async function recordAppEvent(
  store: Store,
  app: string,
  event: Omit<AppEvent, 'timestamp'> & { timestamp?: string },
): Promise<void> {
  const full: AppEvent = { ...event, timestamp: event.timestamp ?? new Date().toISOString() };
  await store.append(subjects.events(app, full.source), full);
}
