/** [build] (where the image comes from) and [deploy] (how a new release rolls out). */
import type { Table } from '../table.ts';
import type { BuildConfig, DeployConfig } from '../types.ts';
import { readVm } from './vm.ts';

export function readBuild(table: Table): BuildConfig {
  const build: BuildConfig = { args: table.stringMap('args', { coerce: true }) ?? {} };
  const image = table.string('image');
  const dockerfile = table.string('dockerfile');
  const ignorefile = table.string('ignorefile');
  const target = table.string('build-target') ?? table.string('build_target');
  const builder = table.string('builder');
  const buildpacks = table.strings('buildpacks');
  const builtin = table.string('builtin');
  const settings = table.table('settings');
  for (const key of ['builder', 'buildpacks', 'settings']) {
    table.notSupported(key, 'buildpack builds; build with a Dockerfile or give an image');
  }
  table.notSupported('builtin', 'Fly’s builtin builders; build with a Dockerfile or give an image');
  settings?.finishAll();
  table.finish({ release_command: '[deploy]' });
  if (image !== undefined) build.image = image;
  if (dockerfile !== undefined) build.dockerfile = dockerfile;
  if (ignorefile !== undefined) build.ignorefile = ignorefile;
  if (target !== undefined) build.build_target = target;
  if (builder !== undefined) build.builder = builder;
  if (buildpacks !== undefined) build.buildpacks = buildpacks;
  if (builtin !== undefined) build.builtin = builtin;
  if (settings) build.settings = { ...settings.raw };
  return build;
}

export function readDeploy(table: Table): DeployConfig {
  const deploy: DeployConfig = {};
  const strategy = table.oneOf('strategy', ['rolling', 'immediate', 'canary', 'bluegreen'] as const);
  const release = table.string('release_command');
  const releaseTimeout = table.duration('release_command_timeout', 's');
  const releaseVmTable = table.table('release_command_vm');
  const maxUnavailable = table.number('max_unavailable', {
    what: 'a fraction below 1 or a number of machines',
  });
  const waitTimeout = table.duration('wait_timeout', 's');
  const seed = table.string('seed_command');
  table.notSupported('seed_command', 'a command run once against a fresh database');
  table.finish({ image: '[build]', dockerfile: '[build]' });
  if (strategy !== undefined) deploy.strategy = strategy;
  if (release !== undefined && release.trim() !== '') deploy.release_command = release;
  if (releaseTimeout !== undefined) deploy.release_command_timeout = releaseTimeout;
  if (releaseVmTable) {
    const vm = readVm(releaseVmTable, { processes: false });
    if (vm) deploy.release_command_vm = vm;
  }
  if (maxUnavailable !== undefined) {
    if (maxUnavailable > 1 && !Number.isInteger(maxUnavailable)) {
      table.ctx.error(
        table.at('max_unavailable'),
        `expected a fraction below 1 or a whole number of machines, got ${maxUnavailable}`,
      );
    } else if (maxUnavailable === 0) {
      table.ctx.error(
        table.at('max_unavailable'),
        'expected a fraction above 0 or at least 1 machine, got 0',
      );
    } else deploy.max_unavailable = maxUnavailable;
  }
  if (waitTimeout !== undefined) deploy.wait_timeout = waitTimeout;
  if (seed !== undefined) deploy.seed_command = seed;
  return deploy;
}
