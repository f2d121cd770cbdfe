/**
 * The web dashboard in a `nearby world` of iad, fra and syd, in Debian's Chromium: the world's API
 * serves it; an app deployed with the CLI and scaled to the three regions shows a marker in each;
 * requests from a client city show in the traffic table, and a stop and a wake in the timeline;
 * the platform view shows the three regions and the round trips the edge proxies measured between
 * them. Screenshots to $NEARBY_SCREENSHOTS_DIR (`docs/screenshots` refreshes the docs'), else a
 * temp dir.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { LinkView } from '../src/api/routes/platform.ts';
import type { MachineView } from '../src/model/mod.ts';
import { eventually, repoRoot } from './helpers/nearby.ts';
import { cityLoad, startWorld, type World } from './helpers/world.ts';

const CHROMIUM = '/usr/bin/chromium';
const REGIONS = ['iad', 'fra', 'syd'];

describe('web dashboard in a world of iad, fra and syd', {
  concurrency: false,
  skip: !existsSync(CHROMIUM) && `no ${CHROMIUM}`,
}, () => {
  let world: World;
  let browser: Browser;
  let page: Page;
  let shots: string;

  before(async () => {
    world = await startWorld(REGIONS, ['ams']);
    shots = process.env.NEARBY_SCREENSHOTS_DIR
      ? resolve(repoRoot, process.env.NEARBY_SCREENSHOTS_DIR)
      : await mkdtemp(join(world.dir, 'screenshots-'));
    await mkdir(shots, { recursive: true });
    // As root, Chromium runs only without its own sandbox; the pages are our own.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => {
    await browser?.close();
    await world?.down();
  });

  const api = async <T>(path: string) =>
    (await (
      await fetch(`${world.status.api_url}${path}`, {
        headers: { authorization: `Bearer ${world.status.token}` },
      })
    ).json()) as T;

  test('an app scaled to three regions shows a marker in each', async () => {
    const image = await world.pushHello();
    await world.cli(['apps', 'create', 'hello']);
    await world.deploy(
      'app = "hello"\nprimary_region = "iad"\n[http_service]\n  internal_port = 8080\n  auto_start_machines = true\n',
      image,
      '--no-ha',
    );
    await world.cli([
      'scale',
      'count',
      String(REGIONS.length),
      '--region',
      REGIONS.join(','),
      '--yes',
      '-a',
      'hello',
    ]);

    await page.goto(`${world.status.api_url}/apps/hello`);
    await page.getByLabel('API token').fill(world.status.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const region of REGIONS) {
      await page.locator(`svg g.marker.ok[data-region="${region}"]`, { hasText: '1/1' }).waitFor({
        timeout: 120_000,
      });
    }
    await page.screenshot({ path: join(shots, 'world-app.png') });
  });

  test("requests from a city show as the app's traffic; a machine's stop and its wake by a request show in the timeline", async () => {
    const machines = await api<MachineView[]>('/v1/apps/hello/machines');
    const fra = machines.find((m) => m.region === 'fra');
    assert.ok(fra, JSON.stringify(machines));
    // Every machine stopped: a request can only be served by waking one.
    for (const machine of machines) await world.cli(['machine', 'stop', machine.id, '-a', 'hello']);
    await page.locator('ol.timeline li[data-kind="stop"]', { hasText: `${fra.id} (fra) stop` }).waitFor({
      timeout: 60_000,
    });
    // ams's nearest region is fra: its proxy takes the requests, and wakes a machine for them.
    const load = cityLoad(world, 'ams', 'hello');
    try {
      await page
        .locator('table.traffic tr[data-entry="fra"] td.rps', { hasText: /[1-9]/ })
        .first()
        .waitFor({ timeout: 120_000 });
      await page
        .locator('ol.timeline li[data-kind="wake"]', { hasText: 'start: woken by a request' })
        .first()
        .waitFor({ timeout: 120_000 });
      // Once woken, fra's machine serves them from its slot: the proxy measures their latency.
      await page
        .locator('table.traffic tr[data-entry="fra"] td.latency', { hasText: / ms \/ / })
        .first()
        .waitFor({ timeout: 60_000 });
      await page.screenshot({ path: join(shots, 'world-traffic.png'), fullPage: true });
    } finally {
      const requests = await load.stop();
      assert.ok(
        requests.some((r) => r.status === 200),
        JSON.stringify(requests.slice(0, 5)),
      );
    }
  });

  test("the platform view: the world's regions, and the proxies' round trips between them", async () => {
    // Proxies publish the RTTs they measure with their heartbeats: every pair, once each has run a while.
    const links = await eventually(
      async () => {
        const { links } = await api<{ links: LinkView[] }>('/v1/platform/links');
        const pairs = new Set(links.map((l) => [l.from_region, l.to_region].sort().join('-')));
        return pairs.size === 3 ? links : undefined;
      },
      120_000,
      'RTTs between every pair of regions',
    );
    assert.ok(links.every((l) => l.rtt_ms > 0));
    await page.getByRole('link', { name: 'Platform' }).click();
    for (const region of REGIONS) {
      await page.locator(`svg g.marker[data-region="${region}"]`, { hasText: '1/1 hosts' }).waitFor();
    }
    await page.locator('svg g.rtt path').nth(2).waitFor();
    assert.match((await page.locator('svg g.rtt text').first().textContent()) ?? '', /^\d+ ms$/);
    await page.screenshot({ path: join(shots, 'world-platform.png') });
  });
});
