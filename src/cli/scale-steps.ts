/**
 * The steps of `nearby scale count`, through the public Machines API only, so the web dashboard
 * scales a region exactly as the CLI does: a new machine copies the group's newest one, surplus
 * machines (stopped ones first, then the newest) are stopped, so the proxy drains them, then destroyed.
 */
import { copyConfig } from '../model/machine-copy.ts';
import type { MachineView } from '../model/mod.ts';
import { type ApiRequester, machinesApi, waitLong } from './machines-client.ts';

export const groupOf = (m: MachineView) => m.config.metadata?.fly_process_group ?? 'app';
export const newestFirst = (a: MachineView, b: MachineView) => b.created_at.localeCompare(a.created_at);

/** The `count` machines of `region` to remove first: stopped ones, then the newest. */
export function surplusIn(machines: MachineView[], region: string, count: number): MachineView[] {
  return machines
    .filter((m) => m.region === region)
    .sort((a, b) => Number(a.state === 'started') - Number(b.state === 'started') || newestFirst(a, b))
    .slice(0, Math.max(0, count));
}

export async function addLike(
  api: ApiRequester,
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

export async function remove(
  api: ApiRequester,
  app: string,
  machine: MachineView,
  out: (text: string) => void,
): Promise<void> {
  if (machine.state === 'started' || machine.state === 'suspended') {
    await machinesApi.stop(api, app, machine.id);
    await waitLong(api, app, machine.id, 'stopped', 120);
  }
  await machinesApi.destroy(api, app, machine.id, true);
  await waitLong(api, app, machine.id, 'destroyed', 60);
  out(`  Machine ${machine.id} destroyed`);
}
