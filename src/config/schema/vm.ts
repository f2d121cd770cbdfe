/** [[vm]] (also [vm] and `vm.size`): machine size from a preset, then cpus / cpu_kind / memory overrides. */
import { DEFAULT_VM_SIZE, parseSizeMb, VM_PRESETS } from '../sizes.ts';
import { suggest } from '../suggest.ts';
import { show, type Table } from '../table.ts';
import type { VmConfig } from '../types.ts';

const GPU_DEFAULT_SIZE = 'performance-8x';

export function readVm(
  table: Table,
  options: { processes?: boolean } = { processes: true },
): VmConfig | undefined {
  const size = table.string('size');
  const memoryRaw = table.take('memory');
  const memoryMb = table.int('memory_mb', { min: 1 });
  const cpus = table.int('cpus', { min: 1, max: 64 });
  const cpuKind = table.oneOf('cpu_kind', ['shared', 'performance'] as const);
  const gpus = table.int('gpus', { min: 0, max: 8 });
  const gpuKind = table.string('gpu_kind');
  const kernelArgs = table.strings('kernel_args');
  const dedication = table.string('host_dedication_id');
  const persist = table.oneOf('persist_rootfs', ['never', 'always', 'restart'] as const);
  // nearby's own key (flyctl warns about it and goes on): run the group's machines as microVMs.
  const runtime = table.oneOf('runtime', ['container', 'microvm'] as const);
  table.int('max_memory_mb', { min: 1 });
  for (const key of ['gpus', 'gpu_kind'])
    table.notSupported(key, 'nearby hosts have no GPUs to hand to machines');
  table.notSupported('kernel_args', 'machines boot nearby’s own kernel command line');
  table.notSupported('host_dedication_id', 'nearby places machines on its own hosts');
  table.notSupported('persist_rootfs', 'a machine’s root filesystem is fresh on every start');
  table.notSupported('max_memory_mb', 'memory is a fixed limit per machine');
  const processes = options.processes ? (table.strings('processes') ?? []) : [];
  table.finish();

  let presetName = size ?? (gpuKind !== undefined ? GPU_DEFAULT_SIZE : DEFAULT_VM_SIZE);
  let preset = VM_PRESETS[presetName];
  if (size !== undefined && preset === undefined) {
    const hint = suggest(size, Object.keys(VM_PRESETS));
    table.ctx.error(
      table.at('size'),
      `unknown size ${JSON.stringify(size)}: expected a preset like "shared-cpu-1x", "shared-cpu-2x", "performance-1x"${hint ? ` (did you mean "${hint}"?)` : ''}`,
    );
    presetName = DEFAULT_VM_SIZE;
    preset = VM_PRESETS[presetName];
  }
  if (preset.gpus !== undefined && size !== undefined) {
    table.ctx.warn(
      table.at('size'),
      `not supported yet — GPU size ${JSON.stringify(size)}; the machine gets its CPUs and memory, without a GPU`,
    );
  }
  let memory = memoryMb ?? preset.memory_mb;
  if (memoryRaw !== undefined) {
    const parsed =
      typeof memoryRaw === 'string' || typeof memoryRaw === 'number' ? parseSizeMb(memoryRaw) : undefined;
    if (parsed === undefined || parsed < 1) {
      table.ctx.error(
        table.at('memory'),
        `expected a size like "512mb" or "1gb" (or a number of MB), got ${show(memoryRaw)}`,
      );
    } else memory = parsed;
  }
  const vm: VmConfig = {
    cpu_kind: cpuKind ?? preset.cpu_kind,
    cpus: cpus ?? preset.cpus,
    memory_mb: memory,
    processes,
  };
  if (size !== undefined) vm.size = size;
  if (gpus !== undefined) vm.gpus = gpus;
  if (gpuKind !== undefined) vm.gpu_kind = gpuKind;
  if (kernelArgs !== undefined) vm.kernel_args = kernelArgs;
  if (dedication !== undefined) vm.host_dedication_id = dedication;
  if (persist !== undefined) vm.persist_rootfs = persist;
  if (runtime !== undefined) vm.runtime = runtime;
  return vm;
}
