/**
 * Billing through the CLI and API on one `nearby server`: the price list (defaults, a bad file
 * refused), an org's spending cap (set, show, clear, refused for another org's token) and the
 * month's usage view, metered by the agent from a running machine, and the enforcer's warnings at a
 * webhook. Suspension (402) is not built yet.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PRICES } from '../src/billing/prices.ts';
import { helloImage } from './helpers/images.ts';
import { eventually, type RunningNearby, startNearby } from './helpers/nearby.ts';
import { startRegistry } from './helpers/registry.ts';

describe('billing: prices, budgets, usage', { concurrency: false }, () => {
  let nearby: RunningNearby;
  let dir: string;
  let image: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    const registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    dir = await mkdtemp(join(tmpdir(), 'nearby-billing-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
  });

  const billing = (args: string[]) => nearby.cli(['billing', ...args], { cwd: dir });

  test('prices: the defaults until the operator sets a list; a bad list is refused with its field', async () => {
    const shown = await billing(['prices', 'show']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.deepEqual(JSON.parse(shown.stdout), DEFAULT_PRICES);
    const file = join(dir, 'prices.json');
    await writeFile(file, JSON.stringify({ ...DEFAULT_PRICES, volume_usd_gb_month: 0.2 }));
    const set = await billing(['prices', 'set', file]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse((await billing(['prices'])).stdout).volume_usd_gb_month, 0.2);
    await writeFile(file, JSON.stringify({ ...DEFAULT_PRICES, egress_usd_gb: { eu: -1 } }));
    const bad = await billing(['prices', 'set', file]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /BILLING_PRICES_INVALID|price list is invalid/);
    assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/, 'no stack trace');
  });

  test('budget: set, show, clear; a bad amount is refused', async () => {
    const set = await billing([
      'budget',
      'set',
      '25',
      '--org',
      'acme',
      '--webhook',
      'http://127.0.0.1:9/hook',
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /cap \$25\.0000 a month, shrink at 80%, webhook http:\/\/127\.0\.0\.1:9\/hook/);
    const shown = await billing(['budget', 'show', '--org', 'acme', '--json']);
    assert.deepEqual(JSON.parse(shown.stdout), { cap_usd: 25, webhook: 'http://127.0.0.1:9/hook' });
    const bad = await billing(['budget', 'set', 'lots', '--org', 'acme']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a budget amount/);
    const cleared = await billing(['budget', 'clear', '--org', 'acme']);
    assert.match(cleared.stdout, /Org acme has no spending cap/);
  });

  test("an org token may not see another org's budget", async () => {
    const made = await nearby.api<{ token: string }>('POST', '/v1/tokens', { org_slug: 'other', name: 'ci' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const response = await fetch(`${nearby.apiUrl}/v1/orgs/acme/budget`, {
      headers: { authorization: `Bearer ${made.body.token}` },
    });
    assert.equal(response.status, 403);
  });

  test('usage: the month so far, empty before anything ran', async () => {
    const usage = await billing(['usage', '--org', 'acme', '--json']);
    assert.equal(usage.code, 0, usage.stderr);
    const view = JSON.parse(usage.stdout);
    assert.equal(view.org, 'acme');
    assert.match(view.month, /^\d{4}-\d{2}$/);
    assert.deepEqual(view.apps, []);
    assert.equal(view.spent_usd, 0);
  });

  test('usage: a started machine is metered by the agent, priced and forecast for the month', async () => {
    const created = await nearby.api('POST', '/v1/apps', { app_name: 'metered', org_slug: 'acme' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const run = await nearby.cli(['machine', 'run', image, '-a', 'metered'], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const view = await eventually(
      async () => {
        const usage = JSON.parse((await billing(['usage', '--org', 'acme', '--json'])).stdout);
        return usage.apps[0]?.machine_seconds > 0 ? usage : undefined;
      },
      60_000,
      'a usage record for the machine',
    );
    assert.equal(view.apps[0].app, 'metered');
    assert.ok(view.spent_usd > 0 && view.forecast_usd >= view.spent_usd, JSON.stringify(view));
    const table = await billing(['usage', '--org', 'acme']);
    assert.match(table.stdout, /^metered\s+\$\d+\.\d{4}\s+\$/m);
    console.log(`metered after the machine started: ${JSON.stringify(view.apps[0])}`);
  });

  test('a tiny cap: the enforcer POSTs the 50, 80 and 100% warnings to the org webhook, once each', async () => {
    const received: { org: string; warning: number; level: string }[] = [];
    const hook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push(JSON.parse(body));
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => hook.close(resolve)));
    const port = (hook.address() as { port: number }).port;
    const started = Date.now();
    const set = await billing([
      'budget',
      'set',
      '0.000001',
      '--org',
      'acme',
      '--webhook',
      `http://127.0.0.1:${port}/budget`,
    ]);
    assert.equal(set.code, 0, set.stderr);
    await eventually(
      async () => (received.some((r) => r.warning === 100) ? true : undefined),
      90_000,
      'the 100% warning',
    );
    console.log(`webhook 100% warning ${Date.now() - started} ms after the cap was set`);
    assert.deepEqual(
      received.map((r) => r.warning).sort((a, b) => a - b),
      [50, 80, 100],
    );
    assert.ok(
      received.every((r) => r.org === 'acme' && r.level === 'suspended'),
      JSON.stringify(received),
    );
    // Suspended: a start is refused with its reason; clearing the cap lets it start again.
    const [machine] = (await nearby.api<{ id: string }[]>('GET', '/v1/apps/metered/machines')).body;
    await nearby.api('POST', `/v1/apps/metered/machines/${machine.id}/stop`);
    const refused = await nearby.api<{ error: string }>(
      'POST',
      `/v1/apps/metered/machines/${machine.id}/start`,
    );
    assert.equal(refused.status, 402, JSON.stringify(refused.body));
    assert.match(JSON.stringify(refused.body), /BUDGET_EXCEEDED|monthly budget/);
    const cli = await nearby.cli(['machine', 'start', machine.id, '-a', 'metered'], { cwd: dir });
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /reached its monthly budget/);
    assert.match(cli.stderr, /budget set AMOUNT --org acme/);
    await billing(['budget', 'clear', '--org', 'acme']);
    const cleared = Date.now();
    await eventually(
      async () => {
        const started = await nearby.api('POST', `/v1/apps/metered/machines/${machine.id}/start`);
        return started.status === 200 ? true : undefined;
      },
      60_000,
      'a start after the cap was cleared',
    );
    console.log(`start allowed again ${Date.now() - cleared} ms after the cap was cleared`);
  });
});
