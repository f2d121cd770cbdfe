/** [[mounts]] (also [mounts] and the older [mount]): volumes mounted into machines. */
import { parseSizeGb } from '../sizes.ts';
import { show, type Table } from '../table.ts';
import type { MountConfig } from '../types.ts';

function size(table: Table, key: string): number | undefined {
  const raw = table.take(key);
  if (raw === undefined) return undefined;
  const gb = typeof raw === 'string' || typeof raw === 'number' ? parseSizeGb(raw) : undefined;
  if (gb === undefined || gb < 1) {
    table.ctx.error(table.at(key), `expected a size like "10gb" (or a number of GB), got ${show(raw)}`);
    return undefined;
  }
  return gb;
}

export function readMount(table: Table): MountConfig | undefined {
  const source = table.string('source', {
    required: true,
    pattern: /^[a-zA-Z0-9_]+$/,
    what: 'a volume name (letters, digits, _)',
  });
  const destination = table.string('destination', {
    required: true,
    pattern: /^\/./,
    what: 'an absolute path like "/data"',
  });
  const mount: MountConfig = {
    source: source ?? '',
    destination: destination ?? '',
    processes: table.strings('processes') ?? [],
  };
  const initial = size(table, 'initial_size');
  const retention = table.int('snapshot_retention', { min: 1, max: 60 });
  const scheduled = table.bool('scheduled_snapshots');
  const threshold = table.int('auto_extend_size_threshold', { min: 0, max: 100 });
  const increment = size(table, 'auto_extend_size_increment');
  const limit = size(table, 'auto_extend_size_limit');
  const byHand = 'grow volumes with `nearby volumes extend ID --size GB`';
  table.notSupported('auto_extend_size_threshold', `automatic volume growth; ${byHand}`);
  table.notSupported('auto_extend_size_increment', `automatic volume growth; ${byHand}`);
  table.notSupported('auto_extend_size_limit', `automatic volume growth; ${byHand}`);
  const byHandSnapshots = 'take them with `nearby volumes snapshots create ID`';
  table.notSupported('scheduled_snapshots', `scheduled snapshots; ${byHandSnapshots}`);
  table.notSupported(
    'snapshot_retention',
    `expiring snapshots; they are kept until the volume's data dir is removed`,
  );
  table.finish();
  if (initial !== undefined) mount.initial_size = initial;
  if (retention !== undefined) mount.snapshot_retention = retention;
  if (scheduled !== undefined) mount.scheduled_snapshots = scheduled;
  if (threshold !== undefined) mount.auto_extend_size_threshold = threshold;
  if (increment !== undefined) mount.auto_extend_size_increment = increment;
  if (limit !== undefined) mount.auto_extend_size_limit = limit;
  return source === undefined || destination === undefined ? undefined : mount;
}
