/**
 * `nearby releases [rollback VERSION]`: the app's deploys, newest first, and going back to one of
 * them — a new release with that release's image (by digest) and machine configs.
 */
import type { PlatformInfo } from '../../api/routes/platform.ts';
import { NearbyError } from '../../errors.ts';
import { pinnedImage, type ReleaseRecord } from '../../model/mod.ts';
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { releasesApi } from '../deploy/api.ts';
import { group } from '../deploy/changes.ts';
import { runRelease } from '../deploy/run.ts';
import { machinesApi } from '../machines-client.ts';
import { ago, shortDigest, table } from '../output.ts';

const imageName = (release: ReleaseRecord) =>
  `${release.image_ref.repository.split('/').at(-1)}${release.image_ref.tag ? `:${release.image_ref.tag}` : ''}`;

export const releases: Command = {
  name: 'releases',
  summary: "list the app's releases; `releases rollback VERSION` goes back to one",
  help: `Usage: nearby releases [-a APP] [--json]
       nearby releases rollback VERSION [-a APP] [--wait-timeout SECS]

Every deploy is a release: its version, status (pending, running, complete, failed, rolled_back,
interrupted), strategy, image and digest, who made it and when. \`rollback VERSION\` deploys that
release's image (by digest) and machine configs again, rolling, as a new release.`,
  options: { ...appOption, ...jsonOption, 'wait-timeout': { type: 'string' } },
  async run(context) {
    const { values, positionals, out } = context;
    const app = await appName(values);
    const api = context.client();
    if (positionals[0] === 'rollback') {
      const version = Number(positionals[1]);
      if (!Number.isInteger(version) || version < 1) {
        throw usageError('give the version to go back to: `nearby releases rollback 3`', releases);
      }
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
      const existing = (await machinesApi.list(api, app)).filter(
        (m) => !m.config.metadata?.fly_release_command,
      );
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
      const seconds = Number(values['wait-timeout'] ?? 120);
      if (!Number.isFinite(seconds) || seconds <= 0)
        throw usageError('--wait-timeout: a number of seconds', releases);
      return runRelease({
        api,
        app,
        out,
        signal: context.signal,
        image,
        strategy: 'rolling',
        plans,
        existing,
        maxUnavailable: 1,
        timeoutMs: seconds * 1000,
        autoRollback: true,
        ...(target.autoscale ? { autoscale: target.autoscale } : {}),
        url: platform.app_url_template.replace('{app}', app),
      });
    }
    if (positionals.length > 0) throw usageError(`unknown argument '${positionals[0]}'`, releases);
    const list = await releasesApi.list(api, app);
    if (values.json) {
      out(JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) {
      out(`${app} has no releases yet: \`nearby deploy\` makes the first`);
      return 0;
    }
    out(
      table(
        ['VERSION', 'STATUS', 'STRATEGY', 'IMAGE', 'DIGEST', 'USER', 'CREATED', 'REASON'],
        list.map((release) => [
          `v${release.version}`,
          release.status,
          release.strategy,
          imageName(release),
          shortDigest(release.image_ref.digest),
          release.user,
          ago(release.created_at),
          (release.reason ?? '').slice(0, 80),
        ]),
      ),
    );
    return 0;
  },
};
