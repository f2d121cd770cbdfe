/**
 * Memory and volume sizes ("512mb", "1gb", "1g", 512) and Fly's VM size presets. Memory is
 * normalised to MiB like Fly (1gb = 1024 MB); a bare number means MB, as in `memory_mb`.
 */

const UNIT_MB: Record<string, number> = {
  '': 1,
  b: 1 / 1024 / 1024,
  k: 1 / 1024,
  kb: 1 / 1024,
  kib: 1 / 1024,
  m: 1,
  mb: 1,
  mib: 1,
  g: 1024,
  gb: 1024,
  gib: 1024,
  t: 1024 * 1024,
  tb: 1024 * 1024,
  tib: 1024 * 1024,
};

/**
 * Parses a size into whole MiB; undefined when the value is not a size, or too large to be one
 * (`1e30`, 30 digits). A bare number is MiB.
 */
export function parseSizeMb(value: string | number): number | undefined {
  let mb: number;
  if (typeof value === 'number') mb = Math.round(value);
  else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
    if (!match) return undefined;
    const factor = UNIT_MB[match[2].toLowerCase()];
    if (factor === undefined) return undefined;
    mb = Math.round(Number(match[1]) * factor);
  }
  return Number.isSafeInteger(mb) && mb >= 0 ? mb : undefined;
}

/** Parses a volume size into whole GB (rounded up); a bare number is GB, as for `fly volumes create`. */
export function parseSizeGb(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number.isSafeInteger(Number(value)) ? Number(value) : undefined;
  const mb = parseSizeMb(value);
  return mb === undefined ? undefined : Math.ceil(mb / 1024);
}

export interface VmPreset {
  cpu_kind: 'shared' | 'performance';
  cpus: number;
  memory_mb: number;
  gpu_kind?: string;
  gpus?: number;
}

function presets(): Record<string, VmPreset> {
  const table: Record<string, VmPreset> = {};
  for (const cpus of [1, 2, 4, 6, 8])
    table[`shared-cpu-${cpus}x`] = { cpu_kind: 'shared', cpus, memory_mb: cpus * 256 };
  for (const cpus of [1, 2, 4, 6, 8, 10, 12, 14, 16]) {
    table[`performance-${cpus}x`] = { cpu_kind: 'performance', cpus, memory_mb: cpus * 2048 };
  }
  const gpu = (gpu_kind: string): VmPreset => ({
    cpu_kind: 'performance',
    cpus: 8,
    memory_mb: 32768,
    gpu_kind,
    gpus: 1,
  });
  table['a100-40gb'] = gpu('a100-pcie-40gb');
  table['a100-80gb'] = gpu('a100-sxm4-80gb');
  table.l40s = gpu('l40s');
  table.a10 = gpu('a10');
  return table;
}

/** Fly's presets: shared CPUs come with 256 MB each, performance CPUs with 2 GB each. */
export const VM_PRESETS: Readonly<Record<string, VmPreset>> = presets();

/** What a machine gets when fly.toml says nothing about its size: Fly's default. */
export const DEFAULT_VM_SIZE = 'shared-cpu-1x';
