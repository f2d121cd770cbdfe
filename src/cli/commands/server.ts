/** `nearby server`: run every part of nearby on this host, in the foreground. */
import { flagHelp, flagOptions } from '../../server/flags.ts';
import { commandSettings, flagsOf } from '../../server/settings.ts';
import type { Command } from '../command.ts';

const flags = flagsOf(['api', 'agent', 'proxy']);

export const server: Command = {
  name: 'server',
  summary: 'run the API, agent and edge proxy on this host (foreground)',
  help: `Usage: nearby server [options]

Runs the control-plane API, the host agent and the edge proxy (HAProxy) in one process, on the
SQLite store in the data dir (or on a NATS JetStream cluster with --nats).
SIGTERM or Ctrl-C stops nearby; machines keep running and are adopted on the next start.
For many hosts, see \`nearby api\`, \`nearby node\`, \`nearby agent\` and \`nearby proxy\`.

Options (environment variable in brackets, default in parentheses):
${flagHelp(flags)}`,
  options: flagOptions(flags),
  async run({ values, signal }) {
    const settings = commandSettings(server, ['api', 'agent', 'proxy'], values);
    // Loaded on demand: other commands should not pay for the server's modules.
    const { runServer } = await import('../../server/mod.ts');
    await runServer(settings, signal);
    return 0;
  },
};
