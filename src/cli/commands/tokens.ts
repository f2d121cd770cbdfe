/** `nearby tokens create deploy|org`, `tokens list`, `tokens revoke`: API tokens for people and CI. */
import { appName } from '../app-name.ts';
import { appOption, type Command, jsonOption, usageError } from '../command.ts';
import { ago, table } from '../output.ts';

interface TokenView {
  id: string;
  kind: string;
  name: string;
  org_slug?: string;
  app?: string;
  created_at: string;
  expires_at?: string;
}

const create: Command = {
  name: 'tokens create',
  summary: 'make a deploy token (one app), an org token (every app of an org) or a host token',
  help: `Usage: nearby tokens create deploy [-a APP] [--name NAME] [--expiry 720h]
       nearby tokens create org [--org SLUG] [--name NAME] [--expiry 720h]
       nearby tokens create host [--name NAME] [--expiry 720h]

Prints the token; it is shown only this once. Use it as NEARBY_API_TOKEN, or as the
bearer token of any Machines API client. A host token (the admin makes it) is what
\`nearby agent|proxy|node --token-file\` need: it pulls any app's image and starts, stops and
suspends machines, nothing else.`,
  options: {
    ...appOption,
    org: { type: 'string', short: 'o' },
    name: { type: 'string', short: 'n' },
    expiry: { type: 'string', short: 'x' },
  },
  async run({ client, out, values, positionals }) {
    const [kind] = positionals;
    const body = { name: values.name as string | undefined, expiry: values.expiry as string | undefined };
    let made: TokenView & { token: string };
    if (kind === 'deploy') {
      const app = await appName(values);
      made = await client().request('POST', `/v1/apps/${encodeURIComponent(app)}/deploy_token`, body);
    } else if (kind === 'org') {
      made = await client().request('POST', '/v1/tokens', {
        ...body,
        org_slug: values.org as string | undefined,
      });
    } else if (kind === 'host') {
      made = await client().request('POST', '/v1/tokens/host', body);
    } else {
      throw usageError('which kind? nearby tokens create deploy|org|host', create);
    }
    process.stderr.write(
      `Made ${made.kind} token ${made.id} for ${made.app ? `app ${made.app}` : made.org_slug ? `org ${made.org_slug}` : 'the hosts of the cluster'}; it is shown only once:\n`,
    );
    out(made.token);
    return 0;
  },
};

const list: Command = {
  name: 'tokens list',
  summary: 'list the tokens you may see (never their secrets)',
  help: 'Usage: nearby tokens list [--json]',
  options: { ...jsonOption },
  async run({ client, out, values }) {
    const { tokens } = await client().request<{ tokens: TokenView[] }>('GET', '/v1/tokens');
    if (values.json) {
      out(JSON.stringify(tokens, null, 2));
      return 0;
    }
    out(
      table(
        ['ID', 'KIND', 'NAME', 'ORG', 'APP', 'CREATED', 'EXPIRES'],
        tokens.map((t) => [
          t.id,
          t.kind,
          t.name,
          t.org_slug ?? '-',
          t.app ?? '-',
          ago(t.created_at),
          t.expires_at ?? 'never',
        ]),
      ),
    );
    return 0;
  },
};

const revoke: Command = {
  name: 'tokens revoke',
  summary: 'revoke tokens: they stop working at once',
  help: 'Usage: nearby tokens revoke ID...',
  async run({ client, out, positionals }) {
    if (positionals.length === 0) throw usageError('which token? nearby tokens revoke ID', revoke);
    for (const id of positionals) {
      await client().request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      out(`Token ${id} revoked`);
    }
    return 0;
  },
};

export const tokens: Command = {
  name: 'tokens',
  summary: 'manage API tokens',
  help: 'Usage: nearby tokens <create|list|revoke>',
  subcommands: [create, list, revoke],
};
