/** Host tokens: the admin makes them; they read secrets for machines and start, stop and suspend them, and nothing else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inProcessApi } from '../../test/helpers/in-process-api.ts';

test('a host token reaches the scale-to-zero actions of any app and is refused everything else', async (t) => {
  const { api, token: admin, close } = await inProcessApi('host-token');
  t.after(close);
  const as = (token: string) => (method: 'GET' | 'POST', url: string, payload?: object) =>
    api.inject({
      method,
      url,
      headers: { authorization: `Bearer ${token}` },
      ...(payload ? { payload } : {}),
    });

  assert.equal((await as(admin)('POST', '/v1/apps', { app_name: 'shop', org_slug: 'acme' })).statusCode, 201);
  const made = await as(admin)('POST', '/v1/tokens/host', { name: 'fra hosts' });
  assert.equal(made.statusCode, 201, made.body);
  const host = as(made.json().token);

  // Allowed through to the handler: the machine does not exist, so 404, not 403.
  for (const action of ['start', 'stop', 'suspend']) {
    const reply = await host('POST', `/v1/apps/shop/machines/0123456789abcd/${action}?reason=request`);
    assert.equal(reply.statusCode, 404, `${action}: ${reply.body}`);
  }
  const sealed = await as(admin)('POST', '/v1/apps/shop/secrets', { values: { DB_URL: 'postgres://x' } });
  assert.equal(sealed.statusCode, 200, sealed.body);
  const opened = await host('GET', '/v1/apps/shop/secret-values');
  assert.equal(opened.statusCode, 200, opened.body);
  assert.deepEqual(opened.json(), { values: { DB_URL: 'postgres://x' } });

  for (const [method, url] of [
    ['GET', '/v1/apps'],
    ['GET', '/v1/apps/shop/machines'],
    ['POST', '/v1/tokens/host'],
  ] as const) {
    const reply = await host(method, url);
    assert.equal(reply.statusCode, 403, `${method} ${url}: ${reply.body}`);
    assert.equal(reply.json().code, 'FORBIDDEN');
  }

  const org = await as(admin)('POST', '/v1/tokens', { org_slug: 'acme' });
  const byOrg = await as(org.json().token)('POST', '/v1/tokens/host');
  assert.equal(byOrg.statusCode, 403, 'only the admin makes host tokens');
  const peek = await as(org.json().token)('GET', '/v1/apps/shop/secret-values');
  assert.equal(peek.statusCode, 403, 'tenants never read secret values back');
});
