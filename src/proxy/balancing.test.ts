/**
 * Choosing the instance through a real HAProxy: hard_limit queues then answers 503 with
 * Retry-After, connection failures are retried on another machine (any request) while a request
 * a machine dropped is retried only when idempotent, and health checks take a machine out of
 * rotation and back.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { echoUpstream, freePort, httpService, request, startTestProxy } from './test-proxy.ts';

test('hard_limit: requests over it wait in the queue, then get 503 with Retry-After', async (t) => {
  const { proxy, httpPort, putApp, putMachine, defer } = await startTestProxy(t, { limits: { queue: '1s' } });
  const internal = await freePort();
  const held: http.ServerResponse[] = [];
  const upstream = await echoUpstream('127.0.0.26', internal, 'm1', (req, res) => {
    if (req.url !== '/hold') return false;
    held.push(res);
    return true;
  });
  defer(upstream.close);
  await putApp('busy');
  await putMachine('busy', 'm1busy', '127.0.0.26', {
    services: [httpService(internal, { concurrency: { type: 'requests', soft_limit: 1, hard_limit: 1 } })],
  });
  await proxy.ready;
  await proxy.synced();

  const first = request(httpPort, 'busy.apps.test', '/hold');
  while (held.length === 0) await sleep(5);
  const second = await request(httpPort, 'busy.apps.test', '/');
  assert.equal(second.status, 503, 'the machine is at its hard limit');
  assert.equal(second.headers['retry-after'], '1');
  // A request that waits in the queue is served once the machine has room.
  const queued = request(httpPort, 'busy.apps.test', '/queued');
  await sleep(100);
  held[0].end('done');
  assert.equal((await first).status, 200);
  const answer = await queued;
  assert.equal(answer.status, 200);
  assert.equal(JSON.parse(answer.body).url, '/queued');
});

test('retries: refused connections go to another machine; a dropped request only when idempotent', async (t) => {
  const { proxy, httpPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  let dropNext = false;
  const seen: string[] = [];
  const hook = (name: string) => (req: http.IncomingMessage) => {
    if (req.url !== '/flaky') return false;
    seen.push(`${name} ${req.method}`);
    if (!dropNext) return false;
    dropNext = false;
    req.socket.destroy();
    return true;
  };
  defer((await echoUpstream('127.0.0.27', internal, 'm1', hook('m1'))).close);
  defer((await echoUpstream('127.0.0.28', internal, 'm2', hook('m2'))).close);
  await putApp('flaky');
  await putMachine('flaky', 'm1flaky', '127.0.0.27', { services: [httpService(internal)] });
  await putMachine('flaky', 'm2flaky', '127.0.0.28', { services: [httpService(internal)] });
  // Reported started, but nothing listens there.
  await putMachine('flaky', 'm3flaky', '127.0.0.29', { services: [httpService(internal)] });
  await proxy.ready;
  await proxy.synced();

  for (let i = 0; i < 9; i++) {
    const answer = await request(httpPort, 'flaky.apps.test', '/', {
      method: i % 2 ? 'POST' : 'GET',
      body: 'x',
    });
    assert.equal(answer.status, 200, 'a refused connection is retried elsewhere, whatever the method');
  }
  dropNext = true;
  const get = await request(httpPort, 'flaky.apps.test', '/flaky');
  assert.equal(get.status, 200, 'GET retried after the machine dropped it');
  assert.equal(seen.length, 2);
  seen.length = 0;
  dropNext = true;
  const post = await request(httpPort, 'flaky.apps.test', '/flaky', { method: 'POST', body: 'once' });
  assert.equal(post.status, 502, 'POST is not sent twice');
  assert.deepEqual(seen.length, 1);
});

test('health checks take a failing machine out of rotation and put it back when it passes', async (t) => {
  const { proxy, api, httpPort, putApp, putMachine, defer } = await startTestProxy(t);
  const internal = await freePort();
  let healthy = true;
  const healthHook = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url !== '/health') return false;
    res.statusCode = healthy ? 200 : 500;
    res.end(healthy ? 'ok' : 'failing');
    return true;
  };
  defer((await echoUpstream('127.0.0.30', internal, 'm1')).close);
  defer((await echoUpstream('127.0.0.31', internal, 'm2', healthHook)).close);
  await putApp('checked');
  const checks = [
    { type: 'http' as const, path: '/health', interval: '200ms', timeout: '500ms', grace_period: '0s' },
  ];
  const m2Checks = { services: [httpService(internal, { checks })] };
  // m1 has no failing checks: its path answers 200 (the echo).
  await putMachine('checked', 'm1checked', '127.0.0.30', m2Checks);
  await putMachine('checked', 'm2checked', '127.0.0.31', m2Checks);
  await proxy.ready;
  await proxy.synced();

  // HAProxy reports the server slots pointed at each machine's address.
  const addressOf: Record<string, string> = { m1checked: '127.0.0.30', m2checked: '127.0.0.31' };
  const up = async (name: string) =>
    (await api.servers()).find(
      (server) => server.backend === 'app_checked' && server.address === addressOf[name],
    )?.opState === 2;
  const until = async (condition: () => Promise<boolean>) => {
    for (let attempt = 0; attempt < 400 && !(await condition()); attempt++) await sleep(25);
    return condition();
  };
  const machines = async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => request(httpPort, 'checked.apps.test', '/')),
    );
    return new Set(answers.map((answer) => JSON.parse(answer.body).machine));
  };
  assert.ok(await until(async () => (await up('m1checked')) && (await up('m2checked'))));
  healthy = false;
  assert.ok(await until(async () => !(await up('m2checked'))), 'm2 leaves rotation');
  assert.deepEqual([...(await machines())], ['m1']);
  healthy = true;
  assert.ok(await until(() => up('m2checked')), 'm2 is back');
  assert.ok(await until(async () => (await machines()).size === 2));
});
