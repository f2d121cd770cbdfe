/** `nearby events`: what the platform did to an app (autoscaling decisions, budget warnings). */
import type { AppEvent } from '../../model/mod.ts';
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption } from '../command.ts';

export const events: Command = {
  name: 'events',
  summary: 'what the platform did to the app: autoscaling, budget warnings and suspension',
  help: `Usage: nearby events [-a APP] [--follow] [-n COUNT] [--json]

  -f, --follow     keep printing new events as they come
  -n, --lines      how many past events to show (default 100)`,
  options: {
    ...appOption,
    ...jsonOption,
    follow: { type: 'boolean', short: 'f' },
    lines: { type: 'string', short: 'n' },
  },
  async run({ client, out, values, signal }) {
    const app = await appName(values);
    const query = new URLSearchParams({ follow: values.follow ? 'true' : 'false' });
    if (values.lines) query.set('tail', values.lines as string);
    try {
      for await (const event of client().lines<AppEvent>(
        `/v1/apps/${encodeURIComponent(app)}/events?${query}`,
        signal,
      )) {
        out(
          values.json
            ? JSON.stringify(event)
            : `${event.timestamp} ${event.source} ${event.type}: ${event.message}`,
        );
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
    return 0;
  },
};
