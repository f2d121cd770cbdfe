/**
 * Which image a deploy runs: `--image`, else `[build] image`, else the Dockerfile (`[build]
 * dockerfile`, default `Dockerfile` beside the config) built here with buildah and pushed to
 * nearby's registry with a short-lived token for this app only; the pushed digest is deployed.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildAndPush, buildErrors } from '../../build/mod.ts';
import type { AppConfig } from '../../config/mod.ts';
import { isNearbyError, NearbyError } from '../../errors.ts';
import { type ApiClient, defaultDataDir } from '../client.ts';
import type { Context } from '../command.ts';

export interface DeployImageOptions {
  /** The app the image is for (a build pushes to this app's repository). */
  app: string;
  config: AppConfig;
  /** Directory of the config file: the build context's base. */
  configDir: string;
  /** `--image`, which skips any build. */
  image?: string;
}

/** How long the token a build pushes with lives; it is revoked as soon as the push is done. */
const PUSH_TOKEN_EXPIRY = '30m';

/** Returns the image reference to deploy, building it first when the config asks for a build. */
export async function deployImage(context: Context, options: DeployImageOptions): Promise<string> {
  const image = options.image ?? options.config.build?.image;
  if (image) return image;
  const build = options.config.build;
  if (build?.builder) throw buildErrors.builderNotSupported(`builder = "${build.builder}"`);
  if (build?.buildpacks?.length) throw buildErrors.builderNotSupported('buildpacks');
  if (build?.builtin) throw buildErrors.builderNotSupported(`builtin = "${build.builtin}"`);
  const dockerfile = resolve(options.configDir, build?.dockerfile ?? 'Dockerfile');
  if (!existsSync(dockerfile)) {
    if (build?.dockerfile) throw buildErrors.dockerfileMissing(dockerfile);
    throw new NearbyError(
      'NO_IMAGE',
      'nothing to deploy: no --image, no [build] image in the config, and no Dockerfile beside it',
      { hint: 'add a Dockerfile, set `image = "registry/name:tag"` under [build], or pass --image' },
    );
  }
  const api = context.client();
  const registry = await registryHost(api);
  await ensureApp(api, options.app, context.out);
  const pushToken = await makePushToken(api, options.app);
  try {
    const built = await buildAndPush({
      app: options.app,
      dockerfile,
      ignorefile: build?.ignorefile ? resolve(options.configDir, build.ignorefile) : undefined,
      args: build?.args ?? {},
      target: build?.build_target,
      registry,
      credentials: { username: 'x', password: pushToken.secret },
      storageDir: join(defaultDataDir(), 'build'),
      tag: `deployment-${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}`,
      out: context.out,
      signal: context.signal,
    });
    return built.reference;
  } finally {
    if (pushToken.id) await api.request('DELETE', `/v1/tokens/${pushToken.id}`).catch(() => {});
  }
}

async function registryHost(api: ApiClient): Promise<string> {
  try {
    return (await api.request<{ host: string }>('GET', '/v1/registry')).host;
  } catch (error) {
    if (isNearbyError(error, 'NOT_FOUND')) throw buildErrors.noRegistry(api.baseUrl);
    throw error;
  }
}

async function ensureApp(api: ApiClient, app: string, out: (text: string) => void): Promise<void> {
  try {
    await api.request('GET', `/v1/apps/${encodeURIComponent(app)}`);
  } catch (error) {
    if (!isNearbyError(error, 'APP_NOT_FOUND')) throw error;
    await api.request('POST', '/v1/apps', { app_name: app });
    out(`Created app ${app}`);
  }
}

/**
 * A deploy token for this app that expires soon (revoked after the push). A caller that may not
 * make tokens holds a deploy token already: it is scoped to the app, so the build pushes with it.
 */
async function makePushToken(api: ApiClient, app: string): Promise<{ id?: string; secret: string }> {
  try {
    const made = await api.request<{ id: string; token: string }>(
      'POST',
      `/v1/apps/${encodeURIComponent(app)}/deploy_token`,
      { name: `build push ${app}`, expiry: PUSH_TOKEN_EXPIRY },
    );
    return { id: made.id, secret: made.token };
  } catch (error) {
    const own = process.env.NEARBY_API_TOKEN;
    if (isNearbyError(error, 'FORBIDDEN') && own) return { secret: own };
    throw error;
  }
}
