/**
 * Two APIs on one NATS store give a token its rate limit once, not once per API: each charges its
 * buckets with what the other allowed (shared-rate-limits.ts). Real nats-server, real HTTP.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import pino from 'pino';
import { startNatsCluster } from '../../test/helpers/nats.ts';
import { NearbyError } from '../errors.ts';
import { keys } from '../model/mod.ts';
import type { ImageService } from '../oci/types.ts';
import { NatsStore, type Store } from '../store/mod.ts';
import { apiLimiters } from './guard.ts';
import { ensureAdminToken, startApi } from './mod.ts';
import type { RateUsageRecord } from './shared-rate-limits.ts';

const noImage = () => Promise.reject(new NearbyError('IMAGE_NOT_FOUND', 'no images here', { status: 404 }));
const noImages: ImageService = { resolve: noImage, pull: noImage };

test('a token spread over two APIs gets its limit once', async (t) => {
  const cluster = await startNatsCluster(t, 3);
  const dataDir = await mkdtemp(join(tmpdir(), 'nearby-rate-share-'));
  const stores: Store[] = [];
  const aborts: AbortController[] = [];
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const abort of aborts) abort.abort();
    for (const close of closers) await close();
    for (const store of stores) await store.close().catch(() => {});
    await rm(dataDir, { recursive: true, force: true });
  });
  const start = async (name: string) => {
    const store = await NatsStore.open({ servers: cluster.urls, prefix: 'rateshare' });
    stores.push(store);
    const abort = new AbortController();
    aborts.push(abort);
    const api = await startApi({
      store,
      images: noImages,
      defaultRegion: 'fra',
      appsDomain: 'localhost',
      appUrlTemplate: 'http://{app}.localhost/',
      log: pino({ level: 'silent' }),
      dataDir,
      listen: '127.0.0.1:0',
      signal: abort.signal,
      peerName: name,
      // Ten requests, and practically no refill during the test.
      limiters: apiLimiters({ NEARBY_RATE_LIMIT_TOKEN: '0.001:10' }),
    });
    closers.push(() => api.close());
    return { url: api.url, store, stop: () => abort.abort(), close: () => api.close() };
  };
  const a = await start('host-a:4280');
  const b = await start('host-b:4280');
  const admin = await ensureAdminToken(a.store, dataDir);
  const call = async (url: string, token: string, method = 'GET', path = '/v1/apps', body?: object) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const orgToken = async () => {
    const made = await call(a.url, admin, 'POST', '/v1/tokens', { org_slug: 'acme' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    return { id: made.body.id as string, secret: made.body.token as string };
  };
  const user = await orgToken();
  const probe = await orgToken();

  for (let i = 0; i < 6; i++)
    assert.equal((await call(a.url, user.secret)).status, 200, 'within the burst on A');
  // A tells the store what it allowed…
  for (let i = 0; ; i++) {
    const record = await a.store.get<RateUsageRecord>(keys.rateUsage('host-a:4280'));
    if (record?.value.hits[`token/${user.id}`] === 6) break;
    assert.ok(i < 100, `A never wrote its usage: ${JSON.stringify(record?.value)}`);
    await delay(50);
  }
  // …and once B has read past it (B reads in order: a later record that empties the probe's bucket
  // shows when), B counts those six against the same token.
  await a.store.put<RateUsageRecord>(keys.rateUsage('marker'), {
    api: 'marker',
    at: new Date().toISOString(),
    hits: { [`token/${probe.id}`]: 10 },
  });
  for (let i = 0; ; i++) {
    if ((await call(b.url, probe.secret)).status === 429) break;
    assert.ok(i < 8, 'B never charged what the other APIs allowed');
    await delay(100);
  }
  const onB = [];
  for (let i = 0; i < 10; i++) onB.push((await call(b.url, user.secret)).status);
  assert.deepEqual(
    onB,
    [200, 200, 200, 200, 429, 429, 429, 429, 429, 429],
    'B allows what is left of the ten, not ten more',
  );
  const refused = await call(b.url, user.secret);
  assert.equal(refused.body.code, 'RATE_LIMITED');

  // An API that stops takes its record with it.
  b.stop();
  await b.close();
  for (let i = 0; (await a.store.get(keys.rateUsage('host-b:4280'))) !== undefined; i++) {
    assert.ok(i < 100, 'B left its usage record behind');
    await delay(50);
  }
});
