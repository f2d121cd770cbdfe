/**
 * Anycast in the world (`up --reach anycast`, docs/edge-routing.md): every host puts the Anycast
 * address on `lo` and runs `nearby anycast announce`; every client city gets an "ISP" bird peering
 * with every host, preferring the nearest by the matrix, its route marked with the host's city as
 * realm so the client's netdelay holds packets to the Anycast address for that city's delay.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderIspConfig } from '../anycast/bird-config.ts';
import { nearbyBin } from './cluster-parts.ts';
import { sh } from './links.ts';
import type { RttMatrix } from './matrix.ts';
import { startDetached } from './processes.ts';
import { saveState, type WorldState } from './state.ts';
import { waitFor } from './wait-ready.ts';

export async function startAnycast(state: WorldState, matrix: RttMatrix) {
  const { plan, dir } = state;
  const anycast = plan.anycast;
  if (!anycast) return;
  mkdirSync(join(dir, 'anycast'), { recursive: true });
  for (const host of plan.hosts) {
    await sh('ip', ['-n', host.netns, 'addr', 'add', `${anycast.address}/32`, 'dev', 'lo']);
    state.processes.push(
      startDetached(
        `anycast ${host.hostName}`,
        nearbyBin,
        [
          ...['anycast', 'announce', '--address', anycast.address, '--router-id', host.address],
          ...['--local-as', String(anycast.edgeAs), '--peer', plan.network],
          ...['--state-dir', join(dir, 'anycast', host.hostName)],
        ],
        {
          netns: host.netns,
          logFile: join(dir, 'logs', `anycast-${host.hostName}.log`),
          cwd: dir,
          execs: ['main.ts'],
        },
      ),
    );
    saveState(state);
  }
  for (const client of plan.clients) {
    // The world delays packets on their way in, by their source's city (links.ts). The host does
    // so for the client's packets; the replies' source is the Anycast address, no city's, so the
    // client holds its packets to it on the way out instead, by the route's realm (the city of the
    // host it goes through): half the RTT each, the whole RTT a round trip, as for any pair.
    for (const link of client.delays)
      await sh('ip', [
        ...['netns', 'exec', client.netns, 'iptables', '-w', '-t', 'mangle', '-A', 'POSTROUTING'],
        ...['-m', 'realm', '--realm', String(link.queue), '-j', 'NFQUEUE', '--queue-num', String(link.queue)],
        '--queue-bypass',
      ]);
    const configFile = join(dir, 'anycast', `isp-${client.city}.conf`);
    writeFileSync(
      configFile,
      renderIspConfig({
        routerId: client.address,
        localAs: anycast.ispAs,
        peers: plan.hosts.map((host) => ({
          name: host.hostName.replace('-', '_'),
          address: host.address,
          as: anycast.edgeAs,
          rttMs: matrix.rtt(client.city, host.region).ms,
          realm: client.delays.find((link) => link.city === host.region)?.queue,
        })),
      }),
    );
    state.processes.push(
      startDetached(
        `bird ${client.city}`,
        'bird',
        ['-f', '-c', configFile, '-s', join(dir, 'anycast', `isp-${client.city}.ctl`)],
        { netns: client.netns, logFile: join(dir, 'logs', `bird-${client.city}.log`), cwd: dir },
      ),
    );
    saveState(state);
  }
  for (const client of plan.clients)
    await waitFor(
      `the Anycast route in ${client.city}`,
      async () =>
        (await sh('ip', ['-n', client.netns, 'route', 'show', `${anycast.address}/32`])).includes('via'),
      join(dir, 'logs', `bird-${client.city}.log`),
      state.processes,
      60_000,
    );
}
