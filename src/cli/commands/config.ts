/** `nearby config validate`: what nearby will do with a nearby.toml / fly.toml, or every error in it. */
import { formatIssues, loadConfig, normalizedJson } from '../../config/mod.ts';
import { type Command, configOption, configPath } from '../command.ts';

const validate: Command = {
  name: 'config validate',
  summary: 'check a config file and print it normalized, or every error in it',
  help: `Usage: nearby config validate [-c FILE]

Reads nearby.toml (or fly.toml) and prints the normalized configuration, with warnings for keys
nearby does not support yet. On errors prints each one with its key and line, and exits 1.`,
  options: { ...configOption },
  async run({ out, values }) {
    const path = configPath(values, true);
    const result = await loadConfig(path);
    if (result.errors.length || !result.config) {
      process.stderr.write(`${formatIssues(result, path)}\n`);
      return 1;
    }
    out(JSON.stringify(normalizedJson(result.config), null, 2));
    if (result.warnings.length) process.stderr.write(`${formatIssues(result, path)}\n`);
    else process.stderr.write(`${path}: valid\n`);
    return 0;
  },
};

export const config: Command = {
  name: 'config',
  summary: 'validate and show app configuration',
  help: 'Usage: nearby config validate [-c FILE]',
  subcommands: [validate],
};
