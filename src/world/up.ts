/**
 * `nearby world up`: makes the links (links.ts), then the cluster in them — NATS (nats-nodes.ts),
 * `nearby api`, a `nearby node` per host and the GeoDNS (cluster-parts.ts). Each thing made is
 * written to the state file as it is made; on a failure everything made is removed.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startAnycast } from './anycast-parts.ts';
import { startApi, startDns, startHosts } from './cluster-parts.ts';
import { takeDown } from './down.ts';
import { worldError } from './errors.ts';
import { makeBridge, makeNamespace, sh } from './links.ts';
import type { RttMatrix } from './matrix.ts';
import { startNats } from './nats-nodes.ts';
import type { WorldPlan } from './plan.ts';
import { hasState, saveState, type WorldState } from './state.ts';

export async function bringUp(
  dir: string,
  plan: WorldPlan,
  matrix: RttMatrix,
  say: (line: string) => void,
): Promise<WorldState> {
  const worldDir = resolve(dir);
  if (hasState(worldDir))
    throw worldError(
      'WORLD_EXISTS',
      `a world already lives in ${worldDir}`,
      'see it with `nearby world status`, or remove it with `nearby world down`',
    );
  const taken = await sh('ip', ['netns', 'list']);
  for (const space of [...plan.hosts, ...plan.clients])
    if (taken.split('\n').some((line) => line.split(' ')[0] === space.netns))
      throw worldError(
        'WORLD_EXISTS',
        `namespace ${space.netns} exists already`,
        'another world has this name: pick --name',
      );
  mkdirSync(join(worldDir, 'logs'), { recursive: true, mode: 0o700 });
  const state: WorldState = {
    dir: worldDir,
    plan,
    namespaces: [],
    processes: [],
    hostDataDirs: [],
    ready: false,
  };
  saveState(state);
  try {
    await makeBridge(state);
    for (const space of [...plan.hosts, ...plan.clients]) {
      await makeNamespace(state, space);
      // No default route in a host: other hosts' machine subnets fail fast (proxies reach them through their host's proxy).
      if (space.kind === 'host') {
        await sh('ip', ['-n', space.netns, 'route', 'add', 'unreachable', '172.20.0.0/16']);
        await sh('ip', ['-n', space.netns, '-6', 'route', 'add', 'unreachable', 'fdaa:0:100::/48']);
      }
    }
    say(
      `links: ${plan.cities.length} cities, ${plan.hosts.length + plan.clients.length} namespaces, delays from data/rtt-matrix.tsv`,
    );
    const natsUrls = await startNats(state);
    say(`nats: ${plan.natsHosts.map((host) => host.region).join(', ')}`);
    await startApi(state, natsUrls);
    say(`api: ${state.apiUrl} (registry ${state.registry})`);
    await startHosts(state, natsUrls, matrix);
    say(`hosts: ${plan.hosts.map((host) => `${host.hostName} ${host.address}`).join(', ')}`);
    if (plan.anycast) {
      await startAnycast(state, matrix);
      say(`anycast: ${plan.anycast.address} announced by every host (bird2), clients follow the nearest`);
    }
    await startDns(state);
    say(`dns: ${state.dnsAddress} answers *.${plan.options.appsDomain} with the nearest region's edge`);
    state.ready = true;
    saveState(state);
    return state;
  } catch (error) {
    say(`world up failed: ${(error as Error).message}; removing what it made`);
    await takeDown(worldDir, () => {});
    throw error;
  }
}
