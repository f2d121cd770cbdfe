/**
 * `nearby secrets set|list|unset|deploy`: app secrets, injected into machines as env vars at boot.
 * Setting or unsetting restarts the app's started machines one at a time so they see the change,
 * unless `--stage` asks to keep it for the next deploy (or `nearby secrets deploy`).
 */
import type { MachineView } from '../../model/mod.ts';
import { appName } from '../app-name.ts';
import type { ApiClient } from '../client.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { machinesApi } from '../machines-client.ts';
import { ago, table } from '../output.ts';
import { rollMachines } from '../rolling.ts';

interface SecretView {
  name: string;
  digest: string;
  created_at: string;
  updated_at: string;
}

const base = (app: string) => `/v1/apps/${encodeURIComponent(app)}/secrets`;
const staged = 'staged: machines get them at their next start, `nearby secrets deploy` or `nearby deploy`';
const stageOption = { stage: { type: 'boolean' as const } };

/** Restarts the started machines one by one; stopped ones read the secrets when they next start. */
async function applySecrets(api: ApiClient, app: string, out: (text: string) => void): Promise<void> {
  const machines = (await machinesApi.list(api, app)).filter((m) => m.state === 'started');
  if (machines.length === 0) {
    out('No started machines: the others get the secrets when they start');
    return;
  }
  out(`Restarting ${machines.length} machine${machines.length === 1 ? '' : 's'} of ${app}, one at a time`);
  await rollMachines(
    api,
    app,
    machines,
    {
      done: 'restarted',
      apply: async (m: MachineView) => {
        await api.request('POST', `/v1/apps/${encodeURIComponent(app)}/machines/${m.id}/restart`);
        return undefined;
      },
    },
    out,
  );
}

const set: Command = {
  name: 'secrets set',
  summary: 'set secrets (NAME=VALUE...)',
  help: `Usage: nearby secrets set NAME=VALUE... [-a APP] [--stage]

Values are encrypted at rest and never shown again. The app's started machines are restarted one
at a time to see them; with --stage they are left alone until \`nearby secrets deploy\`.`,
  options: { ...appOption, ...stageOption },
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
    out(`Set ${Object.keys(pairs).join(', ')} on ${app}${values.stage ? `; ${staged}` : ''}`);
    if (!values.stage) await applySecrets(client(), app, out);
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
  help: 'Usage: nearby secrets unset NAME... [-a APP] [--stage]',
  options: { ...appOption, ...stageOption },
  async run({ client, out, values, positionals }) {
    if (positionals.length === 0) throw usageError('which secrets? nearby secrets unset NAME...', unset);
    const app = await appName(values);
    await client().request('POST', base(app), {
      values: Object.fromEntries(positionals.map((name) => [name, null])),
    });
    out(`Unset ${positionals.join(', ')} on ${app}${values.stage ? `; ${staged}` : ''}`);
    if (!values.stage) await applySecrets(client(), app, out);
    return 0;
  },
};

const deploySecrets: Command = {
  name: 'secrets deploy',
  summary: 'restart the started machines so they see staged secrets',
  help: 'Usage: nearby secrets deploy [-a APP]',
  options: { ...appOption },
  async run({ client, out, values }) {
    await applySecrets(client(), await appName(values), out);
    return 0;
  },
};

export const secrets: Command = {
  name: 'secrets',
  summary: 'manage app secrets',
  help: 'Usage: nearby secrets <set|list|unset|deploy>',
  subcommands: [set, list, unset, deploySecrets],
};
