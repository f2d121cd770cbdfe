/** `nearby apps list|create|destroy`. */
import type { Command } from '../command.ts';
import { jsonOption, usageError } from '../command.ts';
import { ago, table } from '../output.ts';

interface AppView {
  name: string;
  organization: { slug: string };
  machine_count: number;
  status: string;
  created_at: string;
}

const list: Command = {
  name: 'apps list',
  summary: 'list apps',
  help: 'Usage: nearby apps list [--json]',
  options: { ...jsonOption },
  async run({ client, out, values }) {
    const { apps } = await client().request<{ apps: AppView[] }>('GET', '/v1/apps');
    if (values.json) out(JSON.stringify(apps, null, 2));
    else
      out(
        table(
          ['NAME', 'ORG', 'MACHINES', 'STATUS', 'CREATED'],
          apps.map((a) => [
            a.name,
            a.organization.slug,
            String(a.machine_count),
            a.status,
            ago(a.created_at),
          ]),
        ),
      );
    return 0;
  },
};

const create: Command = {
  name: 'apps create',
  summary: 'create an app without writing a config file',
  help: 'Usage: nearby apps create NAME [--org ORG]',
  options: { org: { type: 'string' } },
  async run({ client, out, values, positionals }) {
    const [name] = positionals;
    if (!name) throw usageError('give the app a name: nearby apps create NAME', create);
    await client().request('POST', '/v1/apps', { app_name: name, org_slug: values.org });
    out(`Created app ${name}`);
    return 0;
  },
};

const destroy: Command = {
  name: 'apps destroy',
  summary: 'destroy an app and all its machines',
  help: 'Usage: nearby apps destroy NAME --yes',
  options: { yes: { type: 'boolean', short: 'y' } },
  async run({ client, out, values, positionals }) {
    const [name] = positionals;
    if (!name) throw usageError('which app? nearby apps destroy NAME --yes', destroy);
    if (!values.yes)
      throw usageError(`this destroys ${name} and all its machines; confirm with --yes`, destroy);
    await client().request('DELETE', `/v1/apps/${encodeURIComponent(name)}`);
    out(`Destroyed app ${name}`);
    return 0;
  },
};

export const apps: Command = {
  name: 'apps',
  summary: 'list, create and destroy apps',
  help: 'Usage: nearby apps <list|create|destroy>',
  subcommands: [list, create, destroy],
};
