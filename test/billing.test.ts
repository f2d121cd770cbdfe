/**
 * Billing through the CLI and API on one `nearby server`: the price list (defaults, a bad file
 * refused), an org's spending cap (set, show, clear, refused for another org's token) and the
 * month's usage view, metered by the agent from a running machine, and the enforcer's warnings at a
 * webhook. Then the whole cap on a deployed app with volumes, on a clock the test moves
 * (`NEARBY_CLOCK_OFFSET_FILE`): warnings at 50 and 80% as events and webhook calls, shrinking at
 * 80%, suspension at 100% (machines stopped, the edge answers 402 naming the reason, starts
 * refused), the return within a minute of a raised cap and at the next month, with the machines,
 * the volume's data and the releases as they were.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CLOCK_OFFSET_ENV } from '../src/billing/clock.ts';
import { DEFAULT_PRICES } from '../src/billing/prices.ts';
import type { AppEvent, ExecReply, MachineView, ReleaseRecord, VolumeView } from '../src/model/mod.ts';
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

  /** Billing's clock: the real one plus this offset (ms), read by the server from `clockFile`. */
  let clockOffset = 0;
  let clockFile: string;
  const billingNow = () => Date.now() + clockOffset;
  const setClock = async (offset: number) => {
    clockOffset = offset;
    await writeFile(clockFile, String(offset));
  };
  const hour = 3600_000;

  before(async () => {
    const registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    dir = await mkdtemp(join(tmpdir(), 'nearby-billing-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    clockFile = join(dir, 'clock-offset-ms');
    // The 10th of this month at midnight: the jumps below stay inside the month, whatever today is.
    const today = new Date();
    await setClock(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 10) - Date.now());
    nearby = await startNearby(hooks, {
      args: ['--meter-interval', '1s', '--autostop-interval', '1s'],
      env: { [CLOCK_OFFSET_ENV]: clockFile },
    });
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

  // The whole cap on one deployed app, in org `spend`: the tests below run in order on it.
  const run = promisify(execFile);
  const hookCalls: { org: string; warning: number; level: string }[] = [];
  let shopDir: string;
  /** The machine whose volume holds the file, and what must still be there after each return. */
  let writer: string;
  let keptBefore: Awaited<ReturnType<typeof kept>>;
  const machines = async () => (await nearby.api<MachineView[]>('GET', '/v1/apps/shop/machines')).body;
  const started = async () => (await machines()).filter((m) => m.state === 'started');
  const budgetEvents = async () =>
    (await nearby.cli(['events', '-a', 'shop', '--json'], { cwd: dir })).stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AppEvent)
      .filter((event) => event.source === 'budget');
  /** What a user's curl gets from the edge: the status code, then the body. */
  const curl = async (accept = '*/*') => {
    const { stdout } = await run('curl', [
      '-s',
      '-m',
      '30',
      '-H',
      `Accept: ${accept}`,
      '-w',
      '\\n%{http_code}',
      `http://shop.localhost:${nearby.proxyPort}/`,
    ]);
    const at = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
  };
  const hookWarnings = () => hookCalls.filter((r) => r.org === 'spend').map((r) => r.warning);
  const waitForWarning = (warning: number) =>
    eventually(
      async () => (hookWarnings().includes(warning) ? true : undefined),
      90_000,
      `the ${warning}% warning at the webhook`,
    );
  const sh = async (machine: string, script: string) => {
    const { status, body } = await nearby.api<ExecReply>('POST', `/v1/apps/shop/machines/${machine}/exec`, {
      command: ['/bin/sh', '-c', script],
      timeout: 60,
    });
    assert.equal(status, 200, JSON.stringify(body));
    return body.stdout;
  };
  const kept = async () => {
    const volumes = (await nearby.api<VolumeView[]>('GET', '/v1/apps/shop/volumes')).body;
    const { releases } = (await nearby.api<{ releases: ReleaseRecord[] }>('GET', '/v1/apps/shop/releases'))
      .body;
    return {
      machines: (await machines()).map((m) => m.id).sort(),
      releases: releases.map((r) => r.version).sort(),
      volumes: volumes.map((v) => `${v.id}:${v.attached_machine_id}`).sort(),
    };
  };

  test('a cap crossed step by step: 50% and 80% warned, the app shrinks, at 100% it is suspended', async () => {
    const hook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        hookCalls.push(JSON.parse(body));
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => hook.close(resolve)));
    shopDir = await mkdtemp(join(tmpdir(), 'nearby-shop-'));
    cleanups.push(() => rm(shopDir, { recursive: true, force: true }));
    const launched = await nearby.cli(['launch', '--image', image, '--name', 'shop', '--org', 'spend'], {
      cwd: shopDir,
    });
    assert.equal(launched.code, 0, launched.stderr);
    await writeFile(
      join(shopDir, 'nearby.toml'),
      `app = "shop"\nprimary_region = "${nearby.region}"\n\n[build]\n  image = "${image}"\n\n` +
        '[http_service]\n  internal_port = 8080\n  auto_stop_machines = "stop"\n  auto_start_machines = true\n' +
        '  min_machines_running = 1\n\n[[mounts]]\n  source = "data"\n  destination = "/data"\n',
    );
    const deployed = await nearby.cli(['deploy'], { cwd: shopDir, timeoutMs: 180_000 });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    const first = (await started()).map((m) => m.id);
    assert.equal(first.length, 2, 'two machines, each with its volume');
    writer = first[0];
    await sh(writer, 'echo "orders of the month" > /data/kept.txt');
    assert.equal((await curl()).status, 200);
    keptBefore = await kept();

    // Prices: the app's volumes cost $1 an hour of the test's clock; the rest is negligible.
    const volumes = (await nearby.api<VolumeView[]>('GET', '/v1/apps/shop/volumes')).body;
    const gb = volumes.reduce((sum, v) => sum + v.size_gb, 0);
    const prices = join(dir, 'cap-prices.json');
    await writeFile(prices, JSON.stringify({ ...DEFAULT_PRICES, volume_usd_gb_month: 720 / gb }));
    assert.equal((await billing(['prices', 'set', prices])).code, 0);
    const port = (hook.address() as { port: number }).port;
    const set = await billing([
      'budget',
      'set',
      '10',
      '--org',
      'spend',
      '--webhook',
      `http://127.0.0.1:${port}/`,
    ]);
    assert.equal(set.code, 0, set.stderr);

    await setClock(clockOffset + 5.5 * hour);
    await waitForWarning(50);
    await eventually(
      async () => ((await budgetEvents()).some((e) => e.type === 'warning') ? true : undefined),
      30_000,
      'the 50% warning as an event on the app',
    );

    await setClock(clockOffset + 3 * hour);
    await waitForWarning(80);
    // At the shrink level autostop stops the idle machine now, not after its 5 minutes of idle,
    // and keeps min_machines_running = 1.
    const shrunk = Date.now();
    await eventually(
      async () => ((await started()).length === 1 ? true : undefined),
      60_000,
      'one machine left started',
    );
    console.log(`shrink: an idle machine stopped ${Date.now() - shrunk} ms after the 80% warning`);
    assert.ok((await budgetEvents()).some((e) => e.type === 'shrink'));

    await setClock(clockOffset + 2 * hour);
    await waitForWarning(100);
    await eventually(
      async () => ((await started()).length === 0 ? true : undefined),
      60_000,
      'no machine started',
    );
    assert.deepEqual(hookWarnings(), [50, 80, 100], 'each warning once');
    const page = await curl('text/html');
    assert.equal(page.status, 402, page.body);
    assert.match(page.body, /org spend reached its monthly spending cap of \$10\.00/);
    assert.match(page.body, /nearby billing budget set AMOUNT --org spend/);
    const plain = await curl();
    assert.equal(plain.status, 402);
    assert.match(plain.body, /^402 payment required/);
    const refused = await nearby.api('POST', `/v1/apps/shop/machines/${first[0]}/start`);
    assert.equal(refused.status, 402, JSON.stringify(refused.body));
    const created = await nearby.cli(['machine', 'run', image, '-a', 'shop'], { cwd: dir });
    assert.notEqual(created.code, 0, 'a new machine would be a start too');
    assert.match(created.stderr, /reached its monthly budget/);
    const events = await budgetEvents();
    const suspended = events.find((e) => e.type === 'suspended');
    assert.ok(suspended, JSON.stringify(events));
    assert.match(suspended.message, /org spend reached its monthly spending cap of \$10\.00/);
    assert.deepEqual(
      ((suspended.details?.machines ?? []) as string[]).length,
      1,
      'the machine still started is stopped',
    );
    assert.deepEqual(
      events.filter((e) => e.type === 'warning').map((e) => e.details?.warning),
      [50, 80, 100],
    );
    assert.deepEqual(await kept(), keptBefore, 'stopped, not destroyed');
  });

  test('a raised cap brings the app back within a minute, with nothing lost', async () => {
    const raised = Date.now();
    assert.equal((await billing(['budget', 'set', '100', '--org', 'spend'])).code, 0);
    const answered = await eventually(
      async () => {
        const answer = await curl();
        return answer.status === 200 ? answer : undefined;
      },
      60_000,
      'the app answering again',
    );
    assert.match(answered.body, /^hello from/);
    console.log(`raised cap: the app answered again ${Date.now() - raised} ms after the cap was raised`);
    await eventually(
      async () => ((await budgetEvents()).some((e) => e.type === 'resumed') ? true : undefined),
      30_000,
      'the resumed event',
    );
    assert.deepEqual(await kept(), keptBefore, 'the same machines, volumes and releases');
    // The machine with the file may be the one autostop stopped when the app shrank: start it.
    if (!(await started()).some((m) => m.id === writer)) {
      const start = await nearby.api('POST', `/v1/apps/shop/machines/${writer}/start`);
      assert.equal(start.status, 200, JSON.stringify(start.body));
      await nearby.api('GET', `/v1/apps/shop/machines/${writer}/wait?state=started`);
    }
    assert.equal(await sh(writer, 'cat /data/kept.txt'), 'orders of the month\n', "the volume's file");
    // Egress is metered at the edge: the pages the test fetched are in the month's usage.
    const usage = await eventually(
      async () => {
        const view = JSON.parse((await billing(['usage', '--org', 'spend', '--json'])).stdout);
        return view.apps[0]?.egress_bytes > 0 ? view : undefined;
      },
      30_000,
      'egress in the usage',
    );
    console.log(`egress of shop so far: ${usage.apps[0].egress_bytes} bytes`);
  });

  test('suspended again, the next month brings the app back', async () => {
    const running = (await started()).map((m) => m.id).sort();
    assert.equal((await billing(['budget', 'set', '5', '--org', 'spend'])).code, 0);
    await eventually(
      async () => ((await curl()).status === 402 ? true : undefined),
      60_000,
      'suspended again',
    );
    await eventually(
      async () => ((await started()).length === 0 ? true : undefined),
      60_000,
      'no machine started',
    );
    const now = new Date(billingNow());
    const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1, 0, 0, 30);
    await setClock(clockOffset + (nextMonth - billingNow()));
    const moved = Date.now();
    await eventually(
      async () => ((await curl()).status === 200 ? true : undefined),
      60_000,
      'back next month',
    );
    console.log(`new month: the app answered again ${Date.now() - moved} ms after the clock moved`);
    // The gate and the edge open as soon as the month turns; the enforcer's next pass starts the
    // machines it stopped and says so.
    await eventually(
      async () =>
        (await budgetEvents()).filter((e) => e.type === 'resumed').length === 2 ? true : undefined,
      60_000,
      'the second resumed event',
    );
    const back = async () => (await started()).map((m) => m.id).sort();
    await eventually(
      // Those the enforcer stopped; the activator may have woken another for the test's request.
      async () =>
        (await back()).filter((id) => running.includes(id)).length === running.length ? true : undefined,
      60_000,
      'the machines that ran before the suspension started again',
    ).catch(async (error) => {
      const seen = (await machines()).map((m) => ({
        id: m.id,
        state: m.state,
        events: m.events?.slice(0, 6).map((e) => `${e.type}:${e.status}:${e.request?.reason ?? ''}`),
      }));
      const said = (await budgetEvents()).map(
        (e) => `${e.type}:${JSON.stringify(e.details?.machines ?? [])}`,
      );
      throw new Error(`${error.message}: wanted ${running}; ${JSON.stringify(seen)} ${said.join(' ')}`);
    });
    const usage = JSON.parse((await billing(['usage', '--org', 'spend', '--json'])).stdout);
    assert.ok(usage.spent_usd < 5, `the new month starts near zero: ${JSON.stringify(usage)}`);
    assert.deepEqual(await kept(), keptBefore);
  });

  test('a restart of the server mid-month counts no second twice', async () => {
    const seconds = async () =>
      JSON.parse((await billing(['usage', '--org', 'spend', '--json'])).stdout).apps[0]
        .machine_seconds as number;
    const running = (await started()).length;
    const before = await seconds();
    const from = Date.now();
    await nearby.restart();
    await eventually(async () => ((await seconds()) > before ? true : undefined), 60_000, 'metering again');
    const after = await seconds();
    const elapsed = (Date.now() - from) / 1000;
    console.log(
      `restart: ${before.toFixed(1)} → ${after.toFixed(1)} machine-seconds over ${elapsed.toFixed(1)} s`,
    );
    // At most the wall time that passed, per started machine (plus a meter interval each side).
    assert.ok(after - before <= (elapsed + 2) * running, `${after - before} > ${(elapsed + 2) * running}`);
  });
});
