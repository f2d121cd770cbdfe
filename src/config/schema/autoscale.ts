/** [autoscale]: where and how far the autoscaler may grow and shrink the app (docs/autoscale.md). */
import { type AutoscaleConfig, autoscaleDefaults } from '../../model/autoscale.ts';
import type { Table } from '../table.ts';

const REGION = /^[a-z0-9-]+$/;

export function readAutoscale(table: Table): AutoscaleConfig | undefined {
  const min = table.int('min_machines', { min: 0, max: 1000 });
  const max = table.int('max_machines', { min: 1, max: 1000 });
  const regions = table.strings('regions', { acceptString: true });
  const target = table.int('target_concurrency', { min: 1, max: 100_000 });
  const up = table.int('scale_up_step', { min: 1, max: 100 });
  const down = table.int('scale_down_step', { min: 1, max: 100 });
  const cooldown = table.duration('cooldown', 's');
  table.finish();
  const config: AutoscaleConfig = {
    ...autoscaleDefaults,
    regions: [],
    ...(min !== undefined ? { min_machines: min } : {}),
    ...(max !== undefined ? { max_machines: max } : {}),
    ...(target !== undefined ? { target_concurrency: target } : {}),
    ...(up !== undefined ? { scale_up_step: up } : {}),
    ...(down !== undefined ? { scale_down_step: down } : {}),
    ...(cooldown !== undefined ? { cooldown } : {}),
  };
  if (regions !== undefined) {
    const bad = regions.filter((region) => !REGION.test(region));
    if (bad.length > 0)
      table.ctx.error(
        table.at('regions'),
        `${bad.map((region) => JSON.stringify(region)).join(', ')}: expected region names like "fra"`,
      );
    config.regions = [...new Set(regions)];
  }
  if (config.min_machines > config.max_machines)
    table.ctx.error(
      table.at(min !== undefined ? 'min_machines' : 'max_machines'),
      `min_machines (${config.min_machines}) is above max_machines (${config.max_machines})`,
    );
  if (cooldown !== undefined && cooldown < 1_000)
    table.ctx.error(table.at('cooldown'), `expected at least "1s" (the autoscaler looks every few seconds)`);
  return config;
}
