/** The shape of a CLI command, and the shared parsing of its flags (node:util parseArgs). */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { NearbyError } from '../errors.ts';
import type { ApiClient } from './client.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Context {
  values: Values;
  positionals: string[];
  client: () => ApiClient;
  out: (text: string) => void;
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  /** Usage line(s) and a description shown by --help. */
  help: string;
  options?: Options;
  subcommands?: Command[];
  run?: (context: Context) => Promise<number | undefined>;
}

export const appOption: Options = { app: { type: 'string', short: 'a' } };
export const configOption: Options = { config: { type: 'string', short: 'c' } };
export const jsonOption: Options = { json: { type: 'boolean' } };

export function usageError(message: string, command?: Command): NearbyError {
  return new NearbyError('USAGE', message, {
    hint: command ? `see \`nearby ${command.name} --help\`` : 'see `nearby --help`',
  });
}

export function parse(command: Command, argv: string[]): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' }, debug: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    throw usageError((error as Error).message.replace(/\. To specify.*$/s, ''), command);
  }
}

/** The config file: `-c FILE`, else `nearby.toml`, else `fly.toml` in the current directory. */
export function configPath(values: Values, mustExist = false): string {
  if (typeof values.config === 'string') return resolve(values.config);
  for (const name of ['nearby.toml', 'fly.toml']) if (existsSync(name)) return resolve(name);
  if (mustExist) {
    throw new NearbyError('CONFIG_NOT_FOUND', 'no nearby.toml (or fly.toml) in this directory', {
      hint: 'run `nearby launch` first, or pass -c FILE',
    });
  }
  return resolve('nearby.toml');
}
