/** One more machine like an existing one (`nearby scale count`, the autoscaler): its config, minus what is its own. */
import type { MachineConfig } from './machine.ts';

/**
 * The config of a copy. A volume belongs to one machine: the copy's mounts name the volume (a free
 * one of that name, or a new one) but not the template's volume id.
 */
export function copyConfig(template: MachineConfig): MachineConfig {
  const mounts = template.mounts?.map(({ volume: _volume, ...mount }) => mount);
  return mounts ? { ...template, mounts } : template;
}
