/**
 * Going back to a release: a new release with that release's image (by digest) and machine
 * configs, rolled out one machine at a time with automatic rollback, through the public API only.
 * `nearby releases rollback VERSION` and the web dashboard both run it.
 */
import type { PlatformInfo } from '../../api/routes/platform.ts';
import { NearbyError } from '../../errors.ts';
import { pinnedImage } from '../../model/release.ts';
import type { ApiCalls } from '../client.ts';
import { machinesApi } from '../machines-client.ts';
import { releasesApi } from './api.ts';
import { group } from './changes.ts';
import { runRelease } from './run.ts';

export interface RollbackOptions {
  api: ApiCalls;
  app: string;
  version: number;
  out: (text: string) => void;
  signal: AbortSignal;
  timeoutMs: number;
}

/**
 * Returns the exit code as runRelease does (0 deployed, 130 interrupted).
 * @throws NearbyError RELEASE_NOT_COMPLETE when that release never ran everywhere
 */
export async function rollBackTo(options: RollbackOptions): Promise<number> {
  const { api, app, version, out } = options;
  const target = await releasesApi.get(api, app, version);
  if (target.status !== 'complete') {
    throw new NearbyError(
      'RELEASE_NOT_COMPLETE',
      `release v${version} of ${app} is ${target.status}: it never ran everywhere`,
      {
        hint: `roll back to a complete release (\`nearby releases -a ${app}\`)`,
      },
    );
  }
  const platform = await api.request<PlatformInfo>('GET', '/v1/platform');
  const existing = (await machinesApi.list(api, app)).filter((m) => !m.config.metadata?.fly_release_command);
  const image = pinnedImage(target.image_ref);
  const plans = Object.entries(target.configs)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, config]) => ({
      group: name,
      config: { ...config, image },
      machines: existing.filter((m) => group(m) === name),
      createCount: config.services?.length ? 2 : 1,
      region: existing[0]?.region,
    }));
  out(`Rolling ${app} back to v${version}`);
  return runRelease({
    api,
    app,
    out,
    signal: options.signal,
    image,
    strategy: 'rolling',
    plans,
    existing,
    maxUnavailable: 1,
    timeoutMs: options.timeoutMs,
    autoRollback: true,
    ...(target.autoscale ? { autoscale: target.autoscale } : {}),
    url: platform.app_url_template.replace('{app}', app),
  });
}
