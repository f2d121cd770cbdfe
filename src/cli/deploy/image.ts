/**
 * Which image a deploy runs: `--image`, else `[build] image`. (Dockerfile builds plug in here: the
 * deploy command only ever asks this module for an image reference.)
 */
import type { AppConfig } from '../../config/mod.ts';
import { NearbyError } from '../../errors.ts';
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

/** Returns the image reference to deploy, building it first when the config asks for a build. */
export async function deployImage(_context: Context, options: DeployImageOptions): Promise<string> {
  const image = options.image ?? options.config.build?.image;
  if (image) return image;
  throw new NearbyError('NO_IMAGE', 'nothing to deploy: no --image and no [build] image in the config', {
    hint: 'set `image = "registry/name:tag"` under [build], or pass --image',
  });
}
