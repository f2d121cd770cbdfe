/**
 * The web dashboard end to end, in Debian's Chromium driven by Playwright, against one
 * `nearby server` (real registry, crun): only the login page without a token, a bad token refused,
 * a machine deployed by the CLI appearing on the map in its region and in the live log tail, the
 * traffic through the edge with the latency users got, a machine stopped from the page as the CLI
 * then reports it, the autoscale panel and its decisions in the timeline, the budget set from the
 * page, and the operator's platform view. Screenshots of the main pages go to $NEARBY_SCREENSHOTS_DIR
 * (`NEARBY_SCREENSHOTS_DIR=docs/screenshots` refreshes the documentation's), else a temp dir.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { MachineView, ReleaseRecord } from '../src/model/mod.ts';
import { getApp } from './helpers/http.ts';
import { helloImage } from './helpers/images.ts';
import { type RunningNearby, repoRoot, startNearby } from './helpers/nearby.ts';
import { startRegistry } from './helpers/registry.ts';

const CHROMIUM = '/usr/bin/chromium';
const app = 'atlas';

describe('web dashboard', { concurrency: false, skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}` }, () => {
  let nearby: RunningNearby;
  let browser: Browser;
  let page: Page;
  let dir: string;
  let shots: string;
  let appToml: (release: string) => string;
  const problems: string[] = [];
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    assert.ok(
      existsSync(join(repoRoot, 'dist', 'web', 'index.html')),
      'the dashboard is built (scripts/build-web.sh; npm test runs it)',
    );
    const registry = await startRegistry(hooks);
    const image = await helloImage(registry.url);
    nearby = await startNearby(hooks, { region: 'fra' });
    dir = await mkdtemp(join(tmpdir(), 'nearby-dashboard-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    appToml = (release: string) =>
      `app = "${app}"\nprimary_region = "fra"\n[build]\n  image = "${image}"\n[env]\n  RELEASE = "${release}"\n[http_service]\n  internal_port = 8080\n  min_machines_running = 1\n  [[http_service.checks]]\n    interval = "1s"\n    timeout = "1s"\n    path = "/"\n`;
    await writeFile(join(dir, 'nearby.toml'), appToml('one'));
    shots = process.env.NEARBY_SCREENSHOTS_DIR
      ? resolve(repoRoot, process.env.NEARBY_SCREENSHOTS_DIR)
      : join(dir, 'screenshots');
    await mkdir(shots, { recursive: true });
    // As root, Chromium runs only without its own sandbox; the test's pages are our own.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    cleanups.push(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    // The page's own errors and the browser's refusals; failed API calls are the page's to show.
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        problems.push(message.text());
      }
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });

  /** The viewport, or the whole page (`full`) for what shows below the map. */
  const screenshot = (name: string, full = false) =>
    page.screenshot({ path: join(shots, `${name}.png`), fullPage: full });
  const cli = (args: string[]) => nearby.cli([...args, '-a', app], { cwd: dir, timeoutMs: 180_000 });

  test('the API serves the page with a strict Content-Security-Policy; /v1 stays the API', async () => {
    for (const path of ['/', '/apps/anything']) {
      const response = await fetch(`${nearby.apiUrl}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(response.headers.get('content-security-policy') ?? '', /^default-src 'self';/);
      assert.match(await response.text(), /<div id="root">/);
    }
    const api = await fetch(`${nearby.apiUrl}/v1/apps`);
    assert.equal(api.status, 401, 'the API still needs a token');
    const unknown = await fetch(`${nearby.apiUrl}/v1/nothing-here`, {
      headers: { authorization: `Bearer ${nearby.token}` },
    });
    assert.equal(((await unknown.json()) as { code: string }).code, 'NOT_FOUND');
  });

  test('without a token only the login page shows; a bad token is refused with a clear message', async () => {
    await page.goto(`${nearby.apiUrl}/apps/${app}`);
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.locator('nav').count(), 0, 'no navigation without a token');
    await page.getByLabel('API token').fill('nb_not-a-real-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal(await alert.textContent(), 'This token was refused: missing or invalid API token.');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'a refused token is not kept');
    await screenshot('login-refused');
  });

  test('log in; a machine deployed from the CLI appears on the map in its region, with its logs', async () => {
    await page.goto(`${nearby.apiUrl}/`);
    await page.getByLabel('API token').fill(nearby.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    await page.getByText('No apps yet').waitFor();

    // The app's page is open before the deploy creates the app: it shows what comes as it comes.
    await page.goto(`${nearby.apiUrl}/apps/${app}`);
    await page.getByText(`app '${app}' not found`).waitFor();
    const deploying = cli(['deploy']);
    await page.locator('.live.on').waitFor({ timeout: 60_000 });
    const deployed = await deploying;
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    const machines = (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
    assert.ok(machines.length > 0);
    const started = machines.filter((m) => m.state === 'started').length;
    const marker = page.locator('svg g.marker[data-region="fra"]');
    await marker.locator('text', { hasText: `${started}/${machines.length}` }).waitFor();
    assert.match(
      (await marker.getAttribute('class')) ?? '',
      /\bok\b/,
      'a region whose machines run is green',
    );
    for (const m of machines) {
      const row = page.locator(`tr[data-machine="${m.id}"]`);
      await row.locator('[data-state="started"]').waitFor();
      assert.match((await row.textContent()) ?? '', new RegExp(`fra.*v1.*${nearby.hostName}`));
      await row.getByText('1/1 passing').waitFor();
    }
    await page.locator('.logs div', { hasText: 'hello: listening' }).first().waitFor();
    await page.locator('.live.on').waitFor();
    await screenshot('app');
  });

  test('the live stream: the machines first, then what the proxies saw and log lines (follow=false ends it)', async () => {
    const response = await fetch(`${nearby.apiUrl}/v1/apps/${app}/live?follow=false&tail=5`, {
      headers: { authorization: `Bearer ${nearby.token}` },
    });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = (await response.text())
      .split('\n\n')
      .filter(Boolean)
      .map((block) => {
        const [event, data] = block.split('\n');
        return { event: event.replace('event: ', ''), data: JSON.parse(data.replace('data: ', '')) };
      });
    assert.equal(events[0].event, 'machines');
    const machines = (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
    assert.deepEqual(
      events[0].data.map((m: MachineView) => m.id),
      machines.map((m) => m.id),
    );
    const logs = events.filter((e) => e.event === 'log');
    assert.ok(logs.length > 0 && logs.length <= 5, JSON.stringify(events));
    assert.ok(logs.every((e) => typeof e.data.message === 'string'));
    const activity = events.filter((e) => e.event === 'activity');
    assert.equal(activity.length, 1, JSON.stringify(events));
    assert.deepEqual(Object.keys(activity[0].data).sort(), ['machines', 'served_elsewhere']);
    assert.deepEqual(
      events
        .map((e) => e.event)
        .filter((e, i, all) => all.indexOf(e) === i)
        .sort(),
      ['activity', 'log', 'machines', 'traffic'],
    );
    const traffic = events.filter((e) => e.event === 'traffic');
    assert.equal(traffic.length, 1, JSON.stringify(events));
    assert.ok(Array.isArray(traffic[0].data.routes));
  });

  test("what the edge proxy saw of requests shows as each machine's last request and the app's traffic", async () => {
    // Five requests a second until the page shows them: the proxy samples its counters every 2 s and
    // publishes what changed. (Each request logs a line the page's tail shows: not a flood of them.)
    let sending = true;
    const requests = (async () => {
      while (sending) {
        assert.equal((await getApp(nearby.proxyPort, app)).status, 200);
        await setTimeout(200);
      }
    })();
    try {
      const traffic = page.locator('td.traffic', { hasText: /^\d+ open, last \d+s ago$/ });
      await traffic.first().waitFor({ timeout: 60_000 });
      // Entered in fra and served there, at a rate above nothing, with the latency users got.
      const route = page.locator('table.traffic tr[data-entry="fra"][data-served="fra"]');
      await route.locator('td.rps', { hasText: /[1-9]/ }).waitFor({ timeout: 60_000 });
      await route
        .locator('td.latency', { hasText: /^\d+(\.\d)? ms \/ \d+(\.\d)? ms$/ })
        .waitFor({ timeout: 60_000 });
      const [p50, p95] =
        ((await route.locator('td.latency').textContent()) ?? '').match(/[\d.]+/g)?.map(Number) ?? [];
      assert.ok(p50 > 0 && p50 <= p95, `p50 ${p50} ms, p95 ${p95} ms`);
      await screenshot('traffic', true);
    } finally {
      sending = false;
      await requests;
    }
  });

  test('a machine stopped from the page is stopped for the CLI too', async () => {
    const [machine] = (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
    const row = page.locator(`tr[data-machine="${machine.id}"]`);
    await row.getByRole('button', { name: 'stop', exact: true }).click();
    await row.locator('[data-state="stopped"]').waitFor({ timeout: 60_000 });
    const listed = await cli(['machine', 'list', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const state = (JSON.parse(listed.stdout) as MachineView[]).find((m) => m.id === machine.id)?.state;
    assert.equal(state, 'stopped');
    await page
      .locator('ol.timeline li[data-kind="stop"]', { hasText: `${machine.id} (fra) stop: by api` })
      .waitFor();

    await row.getByRole('button', { name: 'start', exact: true }).click();
    await row.locator('[data-state="started"]').waitFor({ timeout: 60_000 });
  });

  test('a release is rolled back from the page, as `nearby releases rollback` does', async () => {
    await writeFile(join(dir, 'nearby.toml'), appToml('two'));
    const second = await cli(['deploy']);
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    await page.getByRole('button', { name: 'roll back to v1', exact: true }).click();
    await page.getByRole('button', { name: 'Roll back to v1', exact: true }).click();
    await page.locator('pre.progress', { hasText: 'is deployed' }).waitFor({ timeout: 180_000 });
    const listed = await cli(['releases', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    const [newest] = JSON.parse(listed.stdout) as ReleaseRecord[];
    assert.equal(newest.version, 3);
    assert.equal(newest.status, 'complete');
    assert.equal(newest.configs.app.env?.RELEASE, 'one');
    const machines = (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
    assert.ok(machines.length > 0);
    assert.deepEqual(
      machines.map((m) => [m.state, m.config.env?.RELEASE]),
      machines.map(() => ['started', 'one']),
    );
    await page.getByRole('cell', { name: 'v3', exact: true }).first().waitFor();
    await screenshot('rollback');
  });

  test('a region is scaled from the page, as `nearby scale count N --region R` does', async () => {
    const before = (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body.length;
    await page.getByLabel('machine count').fill(String(before + 1));
    await page.getByLabel('region', { exact: true }).selectOption('fra');
    await page.getByRole('button', { name: 'Scale', exact: true }).click();
    await page.locator('pre.progress', { hasText: 'Done' }).waitFor({ timeout: 120_000 });
    const shown = await cli(['scale', 'show', '--json']);
    assert.equal(shown.code, 0, shown.stderr);
    const [row] = JSON.parse(shown.stdout) as {
      group: string;
      region: string;
      count: number;
      started: number;
    }[];
    assert.deepEqual([row.group, row.region, row.count, row.started], ['app', 'fra', before + 1, before + 1]);
    await page
      .locator('svg g.marker[data-region="fra"]', { hasText: `${before + 1}/${before + 1}` })
      .waitFor();
  });

  test('with [autoscale], the panel shows its limits and the decisions, and the timeline the decisions', async () => {
    const machines = (await nearby.api<MachineView[]>('GET', `/v1/apps/${app}/machines`)).body;
    assert.ok(machines.length > 1, 'the scale test left more than one machine');
    // Idle machines above the minimum go, one per cooldown.
    await writeFile(
      join(dir, 'nearby.toml'),
      `${appToml('one')}[autoscale]\n  min_machines = 1\n  max_machines = 3\n  cooldown = "1s"\n`,
    );
    // All machines at once: the rollout is not what this test is about.
    const deployed = await cli(['deploy', '--strategy', 'immediate']);
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    // The decision reaches the timeline through the live stream; the panel asks every 10 s, so
    // the page is loaded again rather than waited for.
    await page
      .locator('ol.timeline li[data-kind="autoscale"]', { hasText: /removed in fra: / })
      .first()
      .waitFor({ timeout: 60_000 });
    await page.reload();
    const panel = page.locator('section.autoscale');
    await panel.getByText('1–3 machines', { exact: false }).waitFor();
    await panel
      .locator('ul.decisions li', { hasText: /remove 1 in fra: / })
      .first()
      .waitFor();
    await screenshot('autoscale', true);
  });

  test('the budget is set from the usage page', async () => {
    await page.getByRole('link', { name: 'personal' }).click();
    await page.getByRole('heading', { name: 'personal: usage and budget' }).waitFor();
    await page.getByLabel('monthly cap in USD').fill('25');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('saved').waitFor();
    const budget = await nearby.api<{ budget: { cap_usd: number } }>('GET', '/v1/orgs/personal/budget');
    assert.equal(budget.body.budget.cap_usd, 25);
    await page.getByText('$25.00').waitFor();
    await screenshot('billing');
  });

  test("the operator's platform view shows the region on the map and its host", async () => {
    await page.getByRole('link', { name: 'Platform' }).click();
    await page.locator('svg g.marker[data-region="fra"]', { hasText: '1/1 hosts' }).waitFor();
    await page.getByRole('cell', { name: nearby.hostName }).waitFor();
    await screenshot('platform');
    await page.getByRole('link', { name: 'Apps' }).click();
    await page.getByRole('link', { name: app }).waitFor();
    await screenshot('apps');
    assert.deepEqual(problems, [], 'no script errors or Content-Security-Policy refusals in the console');
  });
});
