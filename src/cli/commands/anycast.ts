/** `nearby anycast announce|drain|undrain`: announce the edge address by BGP while the local edge is healthy (docs/edge-routing.md). */
import { rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { drainFile, runAnnouncer } from '../../anycast/announcer.ts';
import { edgeError } from '../../edge/errors.ts';
import { type Command, usageError } from '../command.ts';

const stateDirOption = { 'state-dir': { type: 'string' as const } };
const stateDir = (values: Record<string, unknown>) =>
  resolve((values['state-dir'] as string | undefined) ?? '/var/lib/nearby/anycast');

const announce: Command = {
  name: 'anycast announce',
  summary: 'announce the edge address by BGP (bird2) while the local edge answers',
  help: `Usage: nearby anycast announce --address A --router-id ID --local-as N --peer P[,P…] [flags]

Put A on a local interface first (e.g. \`ip addr add A/32 dev lo\`); the edge must listen on it
(it does with --proxy-listen 0.0.0.0:80). Runs bird with a configuration it writes to
--state-dir, and probes --check: the route is withdrawn after 2 failed probes, or at once while
\`nearby anycast drain\` is in effect, and announced again after 2 passes. BGP timers: hold 3 s.

  --address A          the Anycast edge address (IPv4), announced as A/32
  --router-id ID       this host's address (bird's router id)
  --local-as N         the AS the edges announce from
  --peer LIST          peers: ADDRESS[:AS] (active) or CIDR[:AS] (accepted from that network);
                       without :AS any other AS is accepted
  --check URL          the local edge (default http://A/)
  --state-dir DIR      bird's config and socket, the drain flag (default /var/lib/nearby/anycast)`,
  options: {
    address: { type: 'string' },
    'router-id': { type: 'string' },
    'local-as': { type: 'string' },
    peer: { type: 'string' },
    check: { type: 'string' },
    ...stateDirOption,
  },
  async run({ values, out, signal }) {
    for (const flag of ['address', 'router-id', 'local-as', 'peer'])
      if (typeof values[flag] !== 'string') throw usageError(`--${flag} is required`, announce);
    const peers = (values.peer as string).split(',').map((peer) => {
      const [address, as] = peer.trim().split(':');
      if (as !== undefined && !/^\d+$/.test(as))
        throw edgeError(
          'ANYCAST_INVALID',
          `--peer '${peer}': the AS must be a number`,
          'e.g. 10.0.0.0/16:65100',
        );
      return { address, as: as === undefined ? undefined : Number(as) };
    });
    const address = values.address as string;
    await runAnnouncer(
      {
        config: {
          routerId: values['router-id'] as string,
          address,
          localAs: Number(values['local-as']),
          peers,
        },
        stateDir: stateDir(values),
        checkUrl: (values.check as string | undefined) ?? `http://${address}/`,
        log: out,
      },
      signal,
    );
    return 0;
  },
};

const drain: Command = {
  name: 'anycast drain',
  summary: 'withdraw the announcement (the edge keeps serving what reaches it)',
  help: 'Usage: nearby anycast drain [--state-dir DIR]',
  options: stateDirOption,
  async run({ values, out }) {
    writeFileSync(drainFile(stateDir(values)), `${new Date().toISOString()}\n`);
    out('drained: the announcer withdraws the route within one probe interval');
    return 0;
  },
};

const undrain: Command = {
  name: 'anycast undrain',
  summary: 'announce again once the edge passes its checks',
  help: 'Usage: nearby anycast undrain [--state-dir DIR]',
  options: stateDirOption,
  async run({ values, out }) {
    rmSync(drainFile(stateDir(values)), { force: true });
    out('undrained: the route is announced again once the edge passes its checks');
    return 0;
  },
};

export const anycast: Command = {
  name: 'anycast',
  summary: 'announce the edge address by BGP (Anycast)',
  help: 'Usage: nearby anycast announce|drain|undrain [options]',
  subcommands: [announce, drain, undrain],
};
