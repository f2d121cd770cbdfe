/**
 * The config part's public face: read a fly.toml / nearby.toml (the same format), validate it with
 * messages that name the key and line, and turn it into machine configs.
 */
import { readFile } from 'node:fs/promises';
import { configNotFound } from './errors.ts';
import { parseConfig } from './parse.ts';
import type { ConfigResult } from './types.ts';

export { formatIssues } from './format.ts';
export { defaultProcessGroup, processGroups, toMachineConfig } from './machine-config.ts';
export { parseConfig } from './parse.ts';
export { normalizedJson, renderConfig } from './render.ts';
export type * from './types.ts';

/**
 * Reads and parses the config at `path`.
 * @throws NearbyError CONFIG_NOT_FOUND when the file cannot be read; problems in it are in the result.
 */
export async function loadConfig(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', signal: options.signal });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw configNotFound(path, error);
  }
  return parseConfig(text, { file: path });
}
