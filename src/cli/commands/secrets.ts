/** `nearby secrets set|list|unset`: app secrets, injected into machines as env vars at boot. */
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { ago, table } from '../output.ts';

interface SecretView {
  name: string;
  digest: string;
  created_at: string;
  updated_at: string;
}

const base = (app: string) => `/v1/apps/${encodeURIComponent(app)}/secrets`;
const nextStart = 'machines get them at their next start (`nearby machine restart ID`, or `nearby deploy`)';

const set: Command = {
  name: 'secrets set',
  summary: 'set secrets (NAME=VALUE...)',
  help: `Usage: nearby secrets set NAME=VALUE... [-a APP]

Values are encrypted at rest and never shown again; ${nextStart}.`,
  options: { ...appOption },
  async run({ client, out, values, positionals }) {
    if (positionals.length === 0) throw usageError('give NAME=VALUE pairs', set);
    const pairs = Object.fromEntries(
      positionals.map((pair) => {
        const eq = pair.indexOf('=');
        if (eq < 1) throw usageError(`${pair}: expected NAME=VALUE`, set);
        return [pair.slice(0, eq), pair.slice(eq + 1)];
      }),
    );
    const app = await appName(values);
    await client().request('POST', base(app), { values: pairs });
    out(`Set ${Object.keys(pairs).join(', ')} on ${app}; ${nextStart}`);
    return 0;
  },
};

const list: Command = {
  name: 'secrets list',
  summary: "list an app's secrets (names and digests, never values)",
  help: 'Usage: nearby secrets list [-a APP] [--json]',
  options: { ...appOption, ...jsonOption },
  async run({ client, out, values }) {
    const { secrets } = await client().request<{ secrets: SecretView[] }>('GET', base(await appName(values)));
    if (values.json) out(JSON.stringify(secrets, null, 2));
    else
      out(
        table(
          ['NAME', 'DIGEST', 'UPDATED'],
          secrets.map((s) => [s.name, s.digest, ago(s.updated_at)]),
        ),
      );
    return 0;
  },
};

const unset: Command = {
  name: 'secrets unset',
  summary: 'remove secrets',
  help: 'Usage: nearby secrets unset NAME... [-a APP]',
  options: { ...appOption },
  async run({ client, out, values, positionals }) {
    if (positionals.length === 0) throw usageError('which secrets? nearby secrets unset NAME...', unset);
    const app = await appName(values);
    await client().request('POST', base(app), {
      values: Object.fromEntries(positionals.map((name) => [name, null])),
    });
    out(`Unset ${positionals.join(', ')} on ${app}`);
    return 0;
  },
};

export const secrets: Command = {
  name: 'secrets',
  summary: 'manage app secrets',
  help: 'Usage: nearby secrets <set|list|unset>',
  subcommands: [set, list, unset],
};
