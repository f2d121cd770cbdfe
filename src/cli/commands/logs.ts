/** `nearby logs`: recent output of an app's machines, then new lines as they come. */
import type { LogLine } from '../../model/mod.ts';
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption } from '../command.ts';

export const logs: Command = {
  name: 'logs',
  summary: "stream the app's machine logs (stdout and stderr)",
  help: `Usage: nearby logs [-a APP] [--no-tail] [-i MACHINE] [-n LINES] [--json]

  --no-tail        print recent lines and exit instead of following
  -i, --machine    only this machine
  -n, --lines      how many past lines to show (default 100)`,
  options: {
    ...appOption,
    ...jsonOption,
    'no-tail': { type: 'boolean' },
    machine: { type: 'string', short: 'i' },
    lines: { type: 'string', short: 'n' },
  },
  async run({ client, out, values, signal }) {
    const app = await appName(values);
    const query = new URLSearchParams({ follow: values['no-tail'] ? 'false' : 'true' });
    if (values.machine) query.set('machine', values.machine as string);
    if (values.lines) query.set('tail', values.lines as string);
    try {
      for await (const line of client().lines<LogLine>(
        `/v1/apps/${encodeURIComponent(app)}/logs?${query}`,
        signal,
      )) {
        out(
          values.json
            ? JSON.stringify(line)
            : `${line.timestamp} app[${line.machine}] ${line.region} [${line.stream === 'stderr' ? 'err' : 'info'}] ${line.message}`,
        );
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
    return 0;
  },
};
