/**
 * `nearby deploy`: make the app's machines run the config and image in nearby.toml, as a new
 * release: recorded, `release_command` first, rolled out with the `[deploy]` strategy (each new
 * version must pass its health checks), rolled back to the previous release when one fails or the
 * user presses Ctrl-C. Progress is printed as it happens.
 */
import { dirname } from 'node:path';
import type { PlatformInfo } from '../../api/routes/platform.ts';
import {
  type AppConfig,
  formatIssues,
  loadConfig,
  processGroups,
  toMachineConfig,
} from '../../config/mod.ts';
import type { NearbyError } from '../../errors.ts';
import { DEPLOY_STRATEGIES, type DeployStrategy, parseDurationString } from '../../model/mod.ts';
import type { ApiClient } from '../client.ts';
import { appOption, type Command, configOption, configPath, usageError } from '../command.ts';
import { group } from '../deploy/changes.ts';
import { deployImage } from '../deploy/image.ts';
import { runRelease } from '../deploy/run.ts';
import { machinesApi } from '../machines-client.ts';
import { checkRegions } from '../regions.ts';

const DEFAULT_WAIT_TIMEOUT_MS = 120_000;

export const deploy: Command = {
  name: 'deploy',
  summary: 'roll out a new release of the app in nearby.toml',
  help: `Usage: nearby deploy [-c FILE] [-a APP] [--image IMAGE] [options]

Options:
  --image IMAGE        deploy this image instead of [build] image (an older release's image rolls back)
  --strategy NAME      rolling, immediate, canary or bluegreen (default: [deploy] strategy, else rolling)
  --wait-timeout TIME  how long each machine gets to start and pass its health checks
                       (seconds or a duration like 5m; default: [deploy] wait_timeout, else 120s)
  --no-ha              one machine per process group on the first deploy (default: two for
                       groups that serve traffic, so a rolling deploy never drops it)

A machine that fails to start or to pass its checks rolls the app back to the previous release
([experimental] auto_rollback = false turns that off). Ctrl-C stops the deploy and rolls back
too, then exits with 130.`,
  options: {
    ...appOption,
    ...configOption,
    image: { type: 'string' },
    strategy: { type: 'string' },
    'no-ha': { type: 'boolean' },
    'wait-timeout': { type: 'string' },
  },
  async run(context) {
    const { values, out, signal } = context;
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
    const strategy = strategyOf(values.strategy as string | undefined, config);
    const timeoutMs = waitTimeoutOf(values['wait-timeout'] as string | undefined, config);
    const api = context.client();
    const platform = await api.request<PlatformInfo>('GET', '/v1/platform');
    if (config.primary_region) checkRegions(platform, [config.primary_region], 'primary_region');
    const image = await deployImage(context, {
      app,
      config,
      configDir: dirname(path),
      image: values.image as string | undefined,
    });
    await ensureApp(api, app, out);
    // A release command's machine left behind by a killed deploy is no process group of the app.
    const existing = (await machinesApi.list(api, app)).filter(
      (m) => !m.config.metadata?.fly_release_command,
    );
    const plans = processGroups(config).map((name) => {
      const machineConfig = toMachineConfig(config, { image, processGroup: name });
      return {
        group: name,
        config: machineConfig,
        machines: existing.filter((m) => group(m) === name),
        createCount: values['no-ha'] || !machineConfig.services?.length ? 1 : 2,
        region: config.primary_region,
      };
    });
    return runRelease({
      api,
      app,
      out,
      signal,
      image,
      strategy,
      plans,
      existing,
      deploy: config.deploy,
      ...(config.autoscale ? { autoscale: config.autoscale } : {}),
      maxUnavailable: config.deploy?.max_unavailable ?? 1,
      timeoutMs,
      autoRollback: config.experimental?.auto_rollback !== false,
      region: config.primary_region,
      url: platform.app_url_template.replace('{app}', app),
    });
  },
};

function strategyOf(flag: string | undefined, config: AppConfig): DeployStrategy {
  const strategy = flag ?? config.deploy?.strategy ?? 'rolling';
  if (!(DEPLOY_STRATEGIES as readonly string[]).includes(strategy)) {
    throw usageError(`--strategy ${strategy}: expected one of ${DEPLOY_STRATEGIES.join(', ')}`, deploy);
  }
  return strategy as DeployStrategy;
}

function waitTimeoutOf(flag: string | undefined, config: AppConfig): number {
  if (flag === undefined) return config.deploy?.wait_timeout ?? DEFAULT_WAIT_TIMEOUT_MS;
  const ms = /^\d+$/.test(flag) ? Number(flag) * 1000 : parseDurationString(flag);
  if (ms === undefined || ms <= 0) {
    throw usageError(`--wait-timeout ${flag}: expected seconds (120) or a duration (5m, 90s)`, deploy);
  }
  return ms;
}

export async function ensureApp(api: ApiClient, app: string, out: (text: string) => void): Promise<void> {
  try {
    await api.request('GET', `/v1/apps/${encodeURIComponent(app)}`);
  } catch (error) {
    if ((error as NearbyError).code !== 'APP_NOT_FOUND') throw error;
    await api.request('POST', '/v1/apps', { app_name: app });
    out(`Created app ${app}`);
  }
}
