import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { routeKey, routesOf, urlOf } from '../../test/helpers/api-routes.ts';
import { inProcessApi } from '../../test/helpers/in-process-api.ts';

async function setup(t: { after(fn: () => unknown): void }) {
  const { api, token, close } = await inProcessApi('api-errors');
  t.after(close);
  const call = (options: InjectOptions) =>
    api.inject({ ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } });
  return { api, call, token };
}

/** nearby's error shape with one of its codes, and nothing of the framework's. */
function assertApiError(response: { statusCode: number; body: string }, status: number, code: string) {
  assert.doesNotMatch(response.body, /FST_/);
  assert.equal(response.statusCode, status, response.body);
  const body = JSON.parse(response.body);
  assert.equal(body.code, code, response.body);
  assert.equal(typeof body.error, 'string');
}

async function routes(call: (options: InjectOptions) => Promise<{ json(): unknown }>) {
  return routesOf((await call({ method: 'GET', url: '/v1/openapi.json' })).json() as never);
}

test('every route reads Content-Type: application/json with an empty body as no body', async (t) => {
  const { call } = await setup(t);
  assert.equal(
    (await call({ method: 'POST', url: '/v1/apps', payload: { app_name: 'walk' } })).statusCode,
    201,
  );
  const all = await routes(call);
  // Deleting the app last keeps it for every other route.
  const ordered = [
    ...all.filter((r) => routeKey(r) !== 'DELETE /v1/apps/{app}'),
    ...all.filter((r) => routeKey(r) === 'DELETE /v1/apps/{app}'),
  ];
  const values = {
    app: 'walk',
    machine: '3d8e1f2a6c01b4',
    volume: 'vol_abc',
    token: 'tok_none',
    key: 'role',
    name: 'SECRET',
    hostname: 'walk.example.com',
    version: '1',
    ref: 'registry.test/app:1',
    org: 'personal',
  };
  const variants: Record<string, string | number>[] = [
    { 'content-type': 'application/json' },
    { 'content-type': 'application/json; charset=utf-8', 'content-length': 0 },
    { 'content-type': 'APPLICATION/JSON;charset=UTF-8' },
  ];
  for (const route of ordered) {
    for (const headers of route.path === '/v1/apps/{app}' && route.method === 'DELETE'
      ? variants.slice(0, 1)
      : variants) {
      // The live stream follows until the client leaves: here, a snapshot that ends.
      const follow = routeKey(route) === 'GET /v1/apps/{app}/live' ? '?follow=false' : '';
      const response = await call({
        method: route.method as 'GET',
        url: `${urlOf(route, values)}${follow}`,
        headers,
      });
      const what = `${routeKey(route)} with ${JSON.stringify(headers)}: ${response.statusCode} ${response.body}`;
      assert.doesNotMatch(response.body, /FST_/, what);
      if (response.statusCode >= 400) {
        const body = JSON.parse(response.body);
        assert.match(body.code, /^[A-Z][A-Z_]+$/, what);
      }
      if (route.body === 'required') {
        // Nothing sent where a body is needed: refused for what it is, not as bad JSON.
        if (response.statusCode === 400) assert.match(response.body, /body: must be object/, what);
      } else {
        assert.notEqual(response.statusCode, 400, what);
        assert.ok(response.statusCode < 500, what);
      }
    }
  }
});

test('a body that is not JSON, or not JSON at all, gets a clear 400 or 415 in nearby shape', async (t) => {
  const { call } = await setup(t);
  const json = { 'content-type': 'application/json' };
  const broken = await call({ method: 'POST', url: '/v1/apps', headers: json, payload: '{"app_name": ' });
  assertApiError(broken, 400, 'INVALID_JSON');
  assert.match(JSON.parse(broken.body).error, /not valid JSON: Unexpected end/);
  const poisoned = await call({
    method: 'POST',
    url: '/v1/apps',
    headers: json,
    payload: '{"app_name":"x","__proto__":{"admin":true}}',
  });
  assertApiError(poisoned, 400, 'INVALID_JSON');
  const text = await call({
    method: 'POST',
    url: '/v1/apps',
    headers: { 'content-type': 'text/plain' },
    payload: 'x',
  });
  assertApiError(text, 415, 'UNSUPPORTED_MEDIA_TYPE');
  assert.match(JSON.parse(text.body).error, /text\/plain/);
  const badType = await call({
    method: 'POST',
    url: '/v1/apps',
    headers: { 'content-type': '/' },
    payload: 'x',
  });
  assertApiError(badType, 415, 'UNSUPPORTED_MEDIA_TYPE');
  // An empty body of another type is no body too (curl -X POST -d '' sends a form type).
  const emptyForm = await call({
    method: 'DELETE',
    url: '/v1/apps/nothing-here',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: '',
  });
  assertApiError(emptyForm, 404, 'APP_NOT_FOUND');
  const tooLarge = await call({
    method: 'POST',
    url: '/v1/apps',
    headers: json,
    payload: JSON.stringify({ app_name: 'x'.repeat(5 * 1024 * 1024) }),
  });
  assertApiError(tooLarge, 413, 'BODY_TOO_LARGE');
  const invalid = await call({ method: 'POST', url: '/v1/apps', headers: json, payload: { app_name: 7 } });
  assertApiError(invalid, 400, 'BAD_REQUEST');
  assert.match(JSON.parse(invalid.body).error, /body\.app_name: must be string/);
  const missing = await call({ method: 'POST', url: '/v1/apps', headers: json });
  assertApiError(missing, 400, 'BAD_REQUEST');
});

test('unknown endpoints, wrong methods and bad URLs answer with nearby codes', async (t) => {
  const { call } = await setup(t);
  assertApiError(await call({ method: 'GET', url: '/v1/nothing' }), 404, 'NOT_FOUND');
  const wrongMethod = await call({ method: 'PUT', url: '/v1/apps/some-app' });
  assertApiError(wrongMethod, 405, 'METHOD_NOT_ALLOWED');
  assert.equal(wrongMethod.headers.allow, 'GET, HEAD, DELETE');
  assertApiError(await call({ method: 'GET', url: '/v1/apps/%E0%A4%A' }), 400, 'INVALID_URL');
  assertApiError(await call({ method: 'GET', url: `/v1/apps/${'a'.repeat(120)}` }), 414, 'INVALID_URL');
  assertApiError(await call({ method: 'GET', url: '/v1/apps/Bad_Name' }), 400, 'BAD_REQUEST');
  assertApiError(
    await call({ method: 'GET', url: '/v1/apps', headers: { authorization: 'Bearer nope' } }),
    401,
    'UNAUTHORIZED',
  );
});

test('over a socket: a chunked empty JSON body is no body, and broken HTTP gets nearby shape', async (t) => {
  const { api, call, token } = await setup(t);
  assert.equal(
    (await call({ method: 'POST', url: '/v1/apps', payload: { app_name: 'chunked' } })).statusCode,
    201,
  );
  await api.listen({ host: '127.0.0.1', port: 0 });
  const { port } = api.server.address() as { port: number };
  const deleted = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: 'DELETE',
        path: '/v1/apps/chunked',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'transfer-encoding': 'chunked',
        },
      },
      (response) => {
        let body = '';
        response.on('data', (chunk) => {
          body += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      },
    );
    request.on('error', reject);
    request.end();
  });
  assert.equal(deleted.status, 202, deleted.body);
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write('GET /v1/apps HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'),
    );
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk;
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.doesNotMatch(raw, /FST_/);
  assert.equal(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).code, 'BAD_REQUEST');
});
