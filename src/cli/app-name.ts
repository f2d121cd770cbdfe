/** Which app a command acts on: `-a APP`, else `NEARBY_APP`, else the `app` of the config file. */
import { existsSync } from 'node:fs';
import { loadConfig } from '../config/mod.ts';
import { NearbyError } from '../errors.ts';
import { configPath, type Values } from './command.ts';

export async function appName(values: Values): Promise<string> {
  if (typeof values.app === 'string' && values.app) return values.app;
  if (process.env.NEARBY_APP) return process.env.NEARBY_APP;
  const path = configPath(values);
  if (existsSync(path)) {
    const result = await loadConfig(path);
    if (result.config?.app) return result.config.app;
  }
  throw new NearbyError('USAGE', 'which app? no -a APP given and no nearby.toml with an app name here', {
    hint: 'pass -a APP, or run the command in the directory of your nearby.toml',
  });
}
