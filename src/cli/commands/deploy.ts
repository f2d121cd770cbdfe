/**
 * `nearby deploy`: make the app's machines run the config and image in nearby.toml. The first
 * deploy creates machines; later ones replace each machine's config one at a time (rolling),
 * waiting for each to start before touching the next. Progress is printed as it happens.
 */
import { dirname } from 'node:path';
import type { PlatformInfo } from '../../api/routes/platform.ts';
import { formatIssues, loadConfig, processGroups, toMachineConfig } from '../../config/mod.ts';
import { NearbyError } from '../../errors.ts';
import type { LogLine, MachineConfig, MachineView } from '../../model/mod.ts';
import type { ApiClient } from '../client.ts';
import { appOption, type Command, type Context, configOption, configPath, usageError } from '../command.ts';
import { deployImage } from '../deploy/image.ts';
import { machinesApi, waitLong } from '../machines-client.ts';

/** How long a machine must stay up after starting before the deploy calls it good. */
const SETTLE_MS = 1500;

export const deploy: Command = {
  name: 'deploy',
  summary: 'create or update the machines of the app in nearby.toml',
  help: `Usage: nearby deploy [-c FILE] [-a APP] [--image IMAGE] [options]

Options:
  --image IMAGE        deploy this image instead of [build] image
  --no-ha              one machine per process group on the first deploy (default: two for
                       groups that serve traffic, so a rolling deploy never drops it)
  --wait-timeout SECS  how long to wait for each machine to start (default 120)`,
  options: {
    ...appOption,
    ...configOption,
    image: { type: 'string' },
    'no-ha': { type: 'boolean' },
    'wait-timeout': { type: 'string' },
  },
  async run(context) {
    const { values, out } = context;
    const path = configPath(values, true);
    const result = await loadConfig(path);
    if (result.errors.length || !result.config) {
      process.stderr.write(`${formatIssues(result, path)}\n`);
      return 1;
    }
    for (const warning of result.warnings) out(`Warning: ${warning.path}: ${warning.message}`);
    const config = result.config;
    const app = (values.app as string | undefined) ?? config.app;
    if (!app) throw usageError('no app name: set `app = "NAME"` in the config or pass -a APP', deploy);
    const image = await deployImage(context, {
      app,
      config,
      configDir: dirname(path),
      image: values.image as string | undefined,
    });
    const timeout = Number(values['wait-timeout'] ?? 120);
    const api = context.client();
    const platform = await api.request<PlatformInfo>('GET', '/v1/platform');
    await ensureApp(api, app, out);
    const existing = await machinesApi.list(api, app);
    out(`==> Deploying ${app}: ${image}`);
    const touched: MachineView[] = [];
    for (const group of processGroups(config)) {
      const machineConfig = toMachineConfig(config, { image, processGroup: group });
      const mine = existing.filter((m) => (m.config.metadata?.fly_process_group ?? 'app') === group);
      if (mine.length === 0) {
        const count = values['no-ha'] || !machineConfig.services?.length ? 1 : 2;
        for (let i = 0; i < count; i++) {
          touched.push(await createOne(context, app, group, machineConfig, config.primary_region, timeout));
        }
      } else {
        for (const machine of mine)
          touched.push(await updateOne(context, app, machine, machineConfig, timeout));
      }
    }
    await settle(api, app, touched);
    out(`\n==> ${app} is deployed: ${touched.length} machine${touched.length === 1 ? '' : 's'} started`);
    if (existing.length === 0 || touched.some((m) => m.config.services?.length)) {
      out(`Visit it at ${platform.app_url_template.replace('{app}', app)}`);
    }
    return 0;
  },
};

async function ensureApp(api: ApiClient, app: string, out: (text: string) => void): Promise<void> {
  try {
    await api.request('GET', `/v1/apps/${encodeURIComponent(app)}`);
  } catch (error) {
    if ((error as NearbyError).code !== 'APP_NOT_FOUND') throw error;
    await api.request('POST', '/v1/apps', { app_name: app });
    out(`Created app ${app}`);
  }
}

async function createOne(
  { client, out }: Context,
  app: string,
  group: string,
  config: MachineConfig,
  region: string | undefined,
  timeout: number,
): Promise<MachineView> {
  const api = client();
  const machine = await machinesApi.create(api, app, { config, region });
  out(`  Machine ${machine.id} [${group}] created in ${machine.region}, starting…`);
  await waitStarted(api, app, machine, timeout, out);
  return machine;
}

async function updateOne(
  { client, out }: Context,
  app: string,
  machine: MachineView,
  config: MachineConfig,
  timeout: number,
): Promise<MachineView> {
  const api = client();
  const updated = await machinesApi.update(api, app, machine.id, { config });
  out(`  Machine ${machine.id} updating to version ${updated.instance_id}…`);
  await waitStarted(api, app, updated, timeout, out);
  return updated;
}

async function waitStarted(
  api: ApiClient,
  app: string,
  machine: MachineView,
  timeout: number,
  out: (text: string) => void,
): Promise<void> {
  try {
    await waitLong(api, app, machine.id, 'started', timeout, machine.instance_id);
  } catch (error) {
    const view = await machinesApi.get(api, app, machine.id).catch(() => undefined);
    if ((error as NearbyError).code === 'WAIT_TIMEOUT' && view) {
      await failDeploy(api, app, view, `did not start within ${timeout}s (state: ${view.state})`);
    }
    throw error;
  }
  out(`  Machine ${machine.id} started`);
}

/** A machine that exits right after starting fails the deploy, with its last output shown. */
async function settle(api: ApiClient, app: string, machines: MachineView[]): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  for (const machine of machines) {
    const view = await machinesApi.get(api, app, machine.id);
    if (view.state !== 'started' || view.nearby.restarts > 0) {
      await failDeploy(api, app, view, view.nearby.error ?? `is ${view.state} right after starting`);
    }
  }
}

async function failDeploy(api: ApiClient, app: string, view: MachineView, why: string): Promise<never> {
  const lines: string[] = [];
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 2000).unref();
  try {
    for await (const line of api.lines<LogLine>(
      `/v1/apps/${encodeURIComponent(app)}/logs?follow=false&tail=20&machine=${view.id}`,
      controller.signal,
    )) {
      lines.push(`    ${line.stream === 'stderr' ? 'err ' : ''}${line.message}`);
    }
  } catch {}
  throw new NearbyError(
    'DEPLOY_FAILED',
    `machine ${view.id} ${why}${lines.length ? `\n  Its last output:\n${lines.slice(-20).join('\n')}` : ''}`,
    { hint: `see \`nearby logs -a ${app}\` and \`nearby machine status ${view.id} -a ${app}\`` },
  );
}
