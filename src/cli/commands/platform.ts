/**
 * `nearby platform regions|hosts`: the operator's view of where machines can run: each region and
 * host with its capacity and what is used (the scheduler's own accounting), health and version.
 */
import type { Resources } from '../../api/host-load.ts';
import type { HostView, RegionView } from '../../api/platform-inventory.ts';
import { type Command, jsonOption } from '../command.ts';
import { ago, table } from '../output.ts';

const usedOf = (used: Resources, capacity: Resources, key: keyof Resources) =>
  `${used[key]}/${capacity[key]}`;

const regions: Command = {
  name: 'platform regions',
  summary: 'regions: hosts, capacity and what is used, machines',
  help: `Usage: nearby platform regions [--json]

One line per region that has a host. MEMORY MB, CPUS and MACHINES are used/capacity over the hosts
that are up (CPUS in host cores: a shared vCPU takes 1/8 of one, a performance vCPU a whole one;
MACHINES against the hosts' machine caps). Needs the admin token.`,
  options: { ...jsonOption },
  async run({ client, out, values }) {
    const { regions: list } = await client().request<{ regions: RegionView[] }>(
      'GET',
      '/v1/platform/regions',
    );
    if (values.json) {
      out(JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) {
      out('No hosts yet: start `nearby server`, or `nearby agent --region REGION` on a host.');
      return 0;
    }
    out(
      table(
        ['REGION', 'HOSTS UP', 'MEMORY MB', 'CPUS', 'MACHINES', 'STARTED'],
        list.map((r) => [
          r.name,
          `${r.hosts_up}/${r.hosts}`,
          usedOf(r.used, r.capacity, 'memory_mb'),
          usedOf(r.used, r.capacity, 'cpus'),
          `${r.machines}/${r.capacity.machines}`,
          String(r.started),
        ]),
      ),
    );
    return 0;
  },
};

const hosts: Command = {
  name: 'platform hosts',
  summary: 'hosts: region, address, capacity and what is used, machines, health, heartbeat, version',
  help: `Usage: nearby platform hosts [--json]

HEALTH is down when the host's heartbeat is stale: it gets no new machines and its machines show
host_status unreachable. MEMORY MB, CPUS and MACHINES are used/capacity as the scheduler counts them
(every machine not destroyed keeps its room, stopped ones too). Needs the admin token.`,
  options: { ...jsonOption },
  async run({ client, out, values }) {
    const { hosts: list } = await client().request<{ hosts: HostView[] }>('GET', '/v1/platform/hosts');
    if (values.json) {
      out(JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) {
      out('No hosts yet: start `nearby server`, or `nearby agent --region REGION` on a host.');
      return 0;
    }
    out(
      table(
        [
          'HOST',
          'REGION',
          'HEALTH',
          'ADDRESS',
          'MEMORY MB',
          'CPUS',
          'MACHINES',
          'STARTED',
          'HEARTBEAT',
          'VERSION',
        ],
        list.map((h) => [
          h.name,
          h.region,
          h.status,
          h.address ?? '-',
          usedOf(h.used, h.capacity, 'memory_mb'),
          usedOf(h.used, h.capacity, 'cpus'),
          usedOf(h.used, h.capacity, 'machines'),
          String(h.started),
          ago(h.heartbeat_at),
          h.version ?? '-',
        ]),
      ),
    );
    return 0;
  },
};

export const platform: Command = {
  name: 'platform',
  summary: 'the regions and hosts machines can run on (admin)',
  help: 'Usage: nearby platform <regions|hosts> [--json]',
  subcommands: [regions, hosts],
};
