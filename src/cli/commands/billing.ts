/** `nearby billing prices|usage|budget`: the price list, an org's month so far, its spending cap. */
import { readFile } from 'node:fs/promises';
import { budgetInvalid } from '../../billing/errors.ts';
import type { Budget } from '../../billing/planner.ts';
import type { OrgUsage } from '../../billing/store.ts';
import { type Command, jsonOption, usageError } from '../command.ts';
import { table } from '../output.ts';

const orgOption = { org: { type: 'string', short: 'o' } } as const;
const orgOf = (values: Record<string, unknown>): string => (values.org as string | undefined) ?? 'personal';
const usd = (value: number): string => `$${value.toFixed(4)}`;

const prices: Command = {
  name: 'billing prices',
  summary: 'show or set the price list (set: admin token)',
  help: `Usage: nearby billing prices [show]
       nearby billing prices set FILE

FILE is JSON shaped like \`prices show\` prints. Without one set, nearby charges its defaults
(docs/billing.md says where they come from).`,
  async run({ client, out, positionals }) {
    const [action = 'show', file] = positionals;
    if (action === 'show') {
      out(JSON.stringify(await client().request('GET', '/v1/billing/prices'), null, 2));
    } else if (action === 'set' && file) {
      const body = JSON.parse(await readFile(file, 'utf8'));
      await client().request('PUT', '/v1/billing/prices', body);
      out(`Price list set from ${file}`);
    } else {
      throw usageError('nearby billing prices [show|set FILE]', prices);
    }
    return 0;
  },
};

const usage: Command = {
  name: 'billing usage',
  summary: "an org's month so far per app, and the month's forecast",
  help: 'Usage: nearby billing usage [--org ORG] [--json]',
  options: { ...orgOption, ...jsonOption },
  async run({ client, out, values }) {
    const org = orgOf(values);
    const view = await client().request<OrgUsage>('GET', `/v1/orgs/${encodeURIComponent(org)}/billing/usage`);
    if (values.json) {
      out(JSON.stringify(view, null, 2));
      return 0;
    }
    out(
      table(
        ['APP', 'SPENT', 'FORECAST', 'MACHINE-SECONDS', 'EGRESS-BYTES'],
        view.apps.map((a) => [
          a.app,
          usd(a.spent_usd),
          usd(a.forecast_usd),
          a.machine_seconds.toFixed(0),
          String(a.egress_bytes),
        ]),
      ),
    );
    out(
      `Org ${org}, ${view.month}: ${usd(view.spent_usd)} so far, forecast ${usd(view.forecast_usd)} for the month`,
    );
    return 0;
  },
};

const budget: Command = {
  name: 'billing budget',
  summary: "show, set or clear an org's monthly spending cap",
  help: `Usage: nearby billing budget show [--org ORG]
       nearby billing budget set AMOUNT [--org ORG] [--shrink-at PERCENT] [--webhook URL]
       nearby billing budget clear [--org ORG]

AMOUNT is USD per month. At --shrink-at percent (80) the org's apps shrink to their minimum; at
100% they are suspended until next month or until the cap is raised or cleared.`,
  options: { ...orgOption, ...jsonOption, 'shrink-at': { type: 'string' }, webhook: { type: 'string' } },
  async run({ client, out, values, positionals }) {
    const org = orgOf(values);
    const path = `/v1/orgs/${encodeURIComponent(org)}/budget`;
    const [action = 'show', amount] = positionals;
    let result: { budget: Budget | null };
    if (action === 'show') result = await client().request('GET', path);
    else if (action === 'clear') result = await client().request('DELETE', path);
    else if (action === 'set') {
      const cap = Number(amount);
      if (amount === undefined || !Number.isFinite(cap) || cap <= 0) throw budgetInvalid(String(amount));
      const shrink = values['shrink-at'] === undefined ? undefined : Number(values['shrink-at']);
      result = await client().request('PUT', path, {
        cap_usd: cap,
        shrink_at_percent: shrink,
        webhook: values.webhook,
      });
    } else throw usageError('nearby billing budget show|set AMOUNT|clear', budget);
    if (values.json) out(JSON.stringify(result.budget, null, 2));
    else if (result.budget === null) out(`Org ${org} has no spending cap`);
    else
      out(
        `Org ${org}: cap ${usd(result.budget.cap_usd)} a month, shrink at ${result.budget.shrink_at_percent ?? 80}%${result.budget.webhook ? `, webhook ${result.budget.webhook}` : ''}`,
      );
    return 0;
  },
};

export const billing: Command = {
  name: 'billing',
  summary: 'price list, usage and spending caps',
  help: 'Usage: nearby billing <prices|usage|budget>',
  subcommands: [prices, usage, budget],
};
