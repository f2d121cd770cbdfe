/**
 * `nearby api`, `nearby agent`, `nearby proxy` and `nearby node` (agent + proxy): nearby's parts
 * as processes on many hosts, sharing only the store, a NATS JetStream cluster (`--nats`).
 */
import { flagHelp, flagOptions } from '../../server/flags.ts';
import { commandSettings, flagsOf, type PartName } from '../../server/settings.ts';
import { type Command, usageError } from '../command.ts';

function partCommand(name: string, parts: PartName[], summary: string, about: string): Command {
  const flags = flagsOf(parts);
  const command: Command = {
    name,
    summary,
    help: `Usage: nearby ${name} --nats URLS [options]

${about}
SIGTERM or Ctrl-C stops it; machines and HAProxy keep running and are adopted on the next start.

Options (environment variable in brackets, default in parentheses):
${flagHelp(flags)}`,
    options: flagOptions(flags),
    async run({ values, signal }) {
      const settings = commandSettings(command, parts, values);
      if (!settings.nats)
        throw usageError(
          `nearby ${name} needs --nats URLS: the NATS JetStream servers the parts share (nearby server runs everything on one host without it)`,
          command,
        );
      const { runParts } = await import('../../server/mod.ts');
      await runParts(parts, settings, signal);
      return 0;
    },
  };
  return command;
}

export const apiPart = partCommand(
  'api',
  ['api'],
  'run the control-plane API (one or more, anywhere)',
  `Runs the control-plane API, nearby's registry and the certificate manager. The first API of a
cluster makes the admin token: it prints it once and writes it to --admin-token-file.`,
);

export const agentPart = partCommand(
  'agent',
  ['agent'],
  "run a host's agent: its machines (one per host)",
  `Registers this host in the store (region, capacity, address, version; a heartbeat every 2 s)
and runs the machines the scheduler gives it. Without --machine-cidr flags its subnets are
claimed in the store out of the cluster's pools. Pulls from nearby's registry with the token of
--token-file (or NEARBY_API_TOKEN).`,
);

export const proxyPart = partCommand(
  'proxy',
  ['proxy'],
  "run a host's edge proxy (HAProxy)",
  `Serves the apps from the routes in the store. Wakes stopped machines and stops idle ones by
calling the API at --api-url with the token of --token-file (or NEARBY_API_TOKEN).`,
);

export const nodePart = partCommand(
  'node',
  ['agent', 'proxy'],
  "run a host's agent and edge proxy (one per host)",
  `Runs \`nearby agent\` and \`nearby proxy\` in one process: a host of the cluster. The token of
--token-file (or NEARBY_API_TOKEN) pulls images and wakes machines.`,
);
