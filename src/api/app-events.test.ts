import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inProcessApi } from '../../test/helpers/in-process-api.ts';
import { recordAppEvent } from '../model/mod.ts';

test("an app's events come back oldest first, only its own, and a missing app is a 404", async (t) => {
  const { api, store, token, close } = await inProcessApi('app-events');
  t.after(close);
  const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
    api.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } });
  for (const name of ['web', 'webby'])
    assert.equal((await call('POST', '/v1/apps', { app_name: name, org_slug: 'personal' })).statusCode, 201);
  await recordAppEvent(store, 'web', { source: 'budget', type: 'warning', message: 'reached 50%' });
  await recordAppEvent(store, 'webby', { source: 'budget', type: 'warning', message: 'not web' });
  await recordAppEvent(store, 'web', {
    source: 'autoscale',
    type: 'machine_added',
    message: 'syd',
    details: { n: 1 },
  });
  const response = await call('GET', '/v1/apps/web/events');
  assert.equal(response.statusCode, 200);
  const events = response.body
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    events.map((e) => [e.source, e.type, e.message]),
    [
      ['budget', 'warning', 'reached 50%'],
      ['autoscale', 'machine_added', 'syd'],
    ],
  );
  assert.deepEqual(events[1].details, { n: 1 });
  assert.match(events[0].timestamp, /^\d{4}-\d\d-\d\dT/);
  assert.equal((await call('GET', '/v1/apps/nope/events')).statusCode, 404);
});
