/**
 * `nearby scale count|vm|memory|show`: how many machines each process group runs, and how big they
 * are. New machines copy the config of the group's newest machine (same image, same release);
 * surplus machines are stopped (so the proxy drains them) before they are destroyed.
 */
import type { PlatformInfo } from '../../api/routes/platform.ts';
import { VM_PRESETS } from '../../config/sizes.ts';
import { NearbyError } from '../../errors.ts';
import { copyConfig, type MachineConfig, type MachineView } from '../../model/mod.ts';
import { appName } from '../app-name.ts';
import type { ApiClient } from '../client.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { machinesApi, waitLong } from '../machines-client.ts';
import { table } from '../output.ts';
import { additions, evenTargets, nearestTargets, parseRegions, type RegionCounts } from '../region-spread.ts';
import { checkRegions } from '../regions.ts';
import { rollMachines } from '../rolling.ts';

const groupOf = (m: MachineView) => m.config.metadata?.fly_process_group ?? 'app';
const newestFirst = (a: MachineView, b: MachineView) => b.created_at.localeCompare(a.created_at);

const groupOption = { 'process-group': { type: 'string' as const, short: 'g' } };

async function machinesOf(api: ApiClient, app: string, group?: string): Promise<MachineView[]> {
  const machines = (await machinesApi.list(api, app)).filter((m) => !group || groupOf(m) === group);
  if (group && machines.length === 0) {
    throw new NearbyError('NO_MACHINES', `app ${app} has no machines in process group "${group}"`, {
      hint: 'see the groups with `nearby scale show`; a new group gets its machines from `nearby deploy`',
    });
  }
  return machines;
}

/** `web=2 worker=1`, or a bare `N` for --process-group (default: every group). */
function parseCounts(positionals: string[], command: Command): { group?: string; count: number }[] {
  if (positionals.length === 0) throw usageError('how many? nearby scale count N', command);
  return positionals.map((item) => {
    const match = /^(?:([a-z0-9_-]+)=)?(\d+)$/i.exec(item);
    if (!match) throw usageError(`${item}: expected a count (2) or GROUP=COUNT (web=2)`, command);
    return { group: match[1], count: Number(match[2]) };
  });
}

const count: Command = {
  name: 'scale count',
  summary: 'run N machines (per process group, spread over regions)',
  help: `Usage: nearby scale count N [-g GROUP] [--region R1,R2,...] [-a APP]
       nearby scale count GROUP=N... [--region R1,R2,...] [-a APP]

New machines copy the newest machine of their group; extra machines are stopped, then destroyed
(stopped ones first, then the newest).

With --region, N machines are spread evenly over the regions listed (6 over iad,fra,syd is 2 in
each); machines already there count, regions with more get the remainder, and machines in regions
not listed are left alone. Without it, N counts the group's machines in all its regions: new ones go
to the region with the fewest, surplus ones leave the region with the most.`,
  options: {
    ...appOption,
    ...groupOption,
    region: { type: 'string', short: 'r' },
    yes: { type: 'boolean', short: 'y' },
  },
  async run({ client, out, values, positionals }) {
    const api = client();
    const app = await appName(values);
    const listed = values.region === undefined ? undefined : parseRegions(String(values.region));
    if (listed?.length === 0) throw usageError('--region: name at least one region (iad,fra,syd)', count);
    if (listed) checkRegions(await api.request<PlatformInfo>('GET', '/v1/platform'), listed);
    const all = await machinesApi.list(api, app);
    let wanted = parseCounts(positionals, count);
    if (wanted.length === 1 && !wanted[0].group) {
      const group = values['process-group'] as string | undefined;
      const groups = group ? [group] : [...new Set(all.map(groupOf))];
      if (groups.length === 0) {
        throw new NearbyError('NO_MACHINES', `app ${app} has no machines to copy`, {
          hint: 'deploy it first (`nearby deploy`); scale then adds or removes machines like the deployed ones',
        });
      }
      wanted = groups.map((g) => ({ group: g, count: wanted[0].count }));
    }
    for (const { group, count: target } of wanted) {
      const inGroup = all.filter((m) => groupOf(m) === group).sort(newestFirst);
      const template = inGroup[0];
      if (!template) {
        throw new NearbyError(
          'NO_MACHINES',
          `app ${app} has no machines in process group "${group}" to copy`,
          {
            hint: 'a process group gets its first machines from `nearby deploy`',
          },
        );
      }
      const regions = listed ?? regionsOf(inGroup, template);
      const current: RegionCounts = new Map(
        regions.map((r) => [r, inGroup.filter((m) => m.region === r).length]),
      );
      const targets = listed
        ? evenTargets(regions, current, target)
        : nearestTargets(regions, current, target);
      const now = [...current.values()].reduce((sum, n) => sum + n, 0);
      const where = listed ? ` in ${regions.join(', ')}` : '';
      const spread =
        regions.length > 1 ? ` (${regions.map((r) => `${r} ${targets.get(r)}`).join(', ')})` : '';
      if (regions.every((r) => current.get(r) === targets.get(r))) {
        out(`Group ${group}${where}: already ${now} machine${now === 1 ? '' : 's'}${spread}`);
        continue;
      }
      out(`Group ${group}${where}: ${now} → ${target}${spread}`);
      for (const region of additions(current, targets)) await addLike(api, app, template, region, out);
      for (const region of regions) {
        const surplus = inGroup
          .filter((m) => m.region === region)
          .sort((a, b) => Number(a.state === 'started') - Number(b.state === 'started') || newestFirst(a, b))
          .slice(0, Math.max(0, (current.get(region) ?? 0) - (targets.get(region) ?? 0)));
        for (const machine of surplus) await remove(api, app, machine, out);
      }
    }
    return 0;
  },
};

/** The group's regions, its primary region first (deploy sets PRIMARY_REGION), then by name. */
function regionsOf(machines: MachineView[], template: MachineView): string[] {
  const primary = template.config.env?.PRIMARY_REGION ?? template.region;
  const regions = [...new Set(machines.map((m) => m.region))].sort();
  return regions.includes(primary) ? [primary, ...regions.filter((r) => r !== primary)] : regions;
}

async function addLike(
  api: ApiClient,
  app: string,
  template: MachineView,
  region: string,
  out: (text: string) => void,
): Promise<void> {
  const created = await machinesApi.create(api, app, { config: copyConfig(template.config), region });
  out(`  Machine ${created.id} created in ${created.region}, starting…`);
  await waitLong(api, app, created.id, 'started', 120);
  out(`  Machine ${created.id} started`);
}

async function remove(api: ApiClient, app: string, machine: MachineView, out: (text: string) => void) {
  if (machine.state === 'started' || machine.state === 'suspended') {
    await machinesApi.stop(api, app, machine.id);
    await waitLong(api, app, machine.id, 'stopped', 120);
  }
  await machinesApi.destroy(api, app, machine.id, true);
  await waitLong(api, app, machine.id, 'destroyed', 60);
  out(`  Machine ${machine.id} destroyed`);
}

function resize(
  name: string,
  summary: string,
  usage: string,
  guestOf: (
    arg: string,
    values: Record<string, unknown>,
    current: MachineConfig['guest'],
  ) => NonNullable<MachineConfig['guest']>,
): Command {
  const command: Command = {
    name,
    summary,
    help: usage,
    options: {
      ...appOption,
      ...groupOption,
      ...(name === 'scale vm' ? { 'vm-memory': { type: 'string' } } : {}),
    },
    async run({ client, out, values, positionals }) {
      const [arg] = positionals;
      if (!arg) throw usageError(`nearby ${name} ${name === 'scale vm' ? 'SIZE' : 'MB'}`, command);
      const api = client();
      const app = await appName(values);
      const machines = await machinesOf(api, app, values['process-group'] as string | undefined);
      if (machines.length === 0)
        throw new NearbyError('NO_MACHINES', `app ${app} has no machines`, { hint: 'deploy it first' });
      const guest = guestOf(arg, values, machines[0].config.guest);
      out(
        `Resizing ${machines.length} machine${machines.length === 1 ? '' : 's'} of ${app} to ${describe(guest)}, one at a time`,
      );
      await rollMachines(
        api,
        app,
        machines,
        {
          done: 'updated',
          apply: async (m) => {
            const updated = await machinesApi.update(api, app, m.id, {
              config: { ...m.config, guest: { ...m.config.guest, ...guest } },
            });
            return updated.instance_id;
          },
        },
        out,
      );
      return 0;
    },
  };
  return command;
}

const describe = (g: NonNullable<MachineConfig['guest']>) =>
  `${g.cpus ?? 1} ${g.cpu_kind ?? 'shared'} CPU${(g.cpus ?? 1) === 1 ? '' : 's'}, ${g.memory_mb} MB`;

function parseMb(text: string, what: string, command?: Command): number {
  const mb = Number(text.replace(/mb$/i, ''));
  if (!Number.isInteger(mb) || mb < 64 || mb % 64 !== 0) {
    throw usageError(
      `${what} ${text}: a whole number of MB, a multiple of 64, at least 64 (e.g. 512)`,
      command,
    );
  }
  return mb;
}

const vm = resize(
  'scale vm',
  'change the VM size preset of the machines',
  `Usage: nearby scale vm SIZE [--vm-memory MB] [-g GROUP] [-a APP]

SIZE is a preset: ${Object.keys(VM_PRESETS)
    .filter((k) => !k.includes('gb') && !/^(l40s|a10)$/.test(k))
    .join(', ')}.
Machines are updated one at a time, each waited for before the next.`,
  (size, values) => {
    const preset = VM_PRESETS[size];
    if (!preset || preset.gpus) {
      throw usageError(`unknown VM size "${size}"`, vm);
    }
    const memory =
      values['vm-memory'] === undefined
        ? preset.memory_mb
        : parseMb(String(values['vm-memory']), '--vm-memory');
    return { cpu_kind: preset.cpu_kind, cpus: preset.cpus, memory_mb: memory };
  },
);

const memory = resize(
  'scale memory',
  'change the memory of the machines',
  `Usage: nearby scale memory MB [-g GROUP] [-a APP]

Keeps each machine's CPUs; machines are updated one at a time.`,
  (mb, _values, current) => ({
    cpu_kind: current?.cpu_kind ?? 'shared',
    cpus: current?.cpus ?? 1,
    memory_mb: parseMb(mb, 'memory'),
  }),
);

const show: Command = {
  name: 'scale show',
  summary: 'machines per process group and region, and their sizes',
  help: 'Usage: nearby scale show [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const machines = await machinesApi.list(client(), await appName(values));
    const rows = new Map<
      string,
      { group: string; region: string; size: string; count: number; started: number }
    >();
    for (const m of machines) {
      const g = m.config.guest;
      const size = g ? describe(g) : 'default';
      const key = `${groupOf(m)}\0${m.region}\0${size}`;
      const row = rows.get(key) ?? { group: groupOf(m), region: m.region, size, count: 0, started: 0 };
      row.count++;
      if (m.state === 'started') row.started++;
      rows.set(key, row);
    }
    const list = [...rows.values()];
    if (values.json) out(JSON.stringify(list, null, 2));
    else
      out(
        table(
          ['GROUP', 'REGION', 'COUNT', 'STARTED', 'SIZE'],
          list.map((r) => [r.group, r.region, String(r.count), String(r.started), r.size]),
        ),
      );
    return 0;
  },
};

export const scale: Command = {
  name: 'scale',
  summary: 'change the number or size of machines',
  help: 'Usage: nearby scale <count|vm|memory|show>',
  subcommands: [count, vm, memory, show],
};
