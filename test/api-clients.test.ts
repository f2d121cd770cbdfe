/**
 * Clients written from the Machines API docs send `Content-Type: application/json` on every
 * request, with a body or without. Against a real `nearby server`: the flows such a client runs
 * (start, cordon, lease, force destroy, delete app) succeed, and a walk over every route the server
 * lists in its OpenAPI document sends the header everywhere and a body only where the route needs
 * one. No answer is a framework error, and no server log line repeats a key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_PRICES } from '../src/billing/prices.ts';
import { type ApiRoute, type PathValues, routeKey, routesOf, urlOf } from './helpers/api-routes.ts';
import { FlyClient } from './helpers/fly-client.ts';
import { helloImage } from './helpers/images.ts';
import { repeatedKeys } from './helpers/log-lines.ts';
import { type RunningNearby, startNearby } from './helpers/nearby.ts';
import { type RunningRegistry, startRegistry } from './helpers/registry.ts';

/** One step of the walk: the body it sends (only where the route needs one), what it expects. */
interface Step {
  body?: unknown;
  /** More query parameters (`force=true`). */
  query?: string;
  /** Statuses that pass; 2xx when not given. */
  expect?: number[];
  /** The machine state to wait for after the step, before the next one. */
  settle?: 'started' | 'stopped';
  /** Reads ids the next steps use from the answer. */
  keep?: (answer: Record<string, unknown>) => void;
}

describe('API clients that send Content-Type: application/json on every request', {
  concurrency: false,
}, () => {
  let registry: RunningRegistry;
  let nearby: RunningNearby;
  let fly: FlyClient;
  let image: string;
  const cleanups: (() => unknown)[] = [];
  const hooks = { after: (fn: () => unknown) => cleanups.push(fn) };
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    registry = await startRegistry(hooks);
    image = await helloImage(registry.url);
    nearby = await startNearby(hooks);
    fly = new FlyClient(nearby.apiUrl, nearby.token, { contentType: 'always' });
  });

  const waitFor = async (app: string, id: string, state: string) => {
    const waited = await fly.waitMachine(app, id, { state, timeout: 60 });
    assert.equal(waited.status, 200, `machine ${id} is not ${state}: ${JSON.stringify(waited.body)}`);
  };
  const ok = (answer: { status: number; body: unknown }, what: string) => {
    assert.ok(
      answer.status >= 200 && answer.status < 300,
      `${what}: ${answer.status} ${JSON.stringify(answer.body)}`,
    );
    assert.doesNotMatch(JSON.stringify(answer.body ?? ''), /FST_/, what);
  };

  test('start, cordon, uncordon, lease, release, force destroy and delete app, all without a body', async () => {
    const app = 'json-client';
    ok(await fly.createApp(app, 'personal'), 'create app');
    const created = await fly.createMachine(app, { config: { image } });
    ok(created, 'create machine');
    const id = created.body.id as string;
    await waitFor(app, id, 'started');
    ok(await fly.stopMachine(app, id), 'stop');
    await waitFor(app, id, 'stopped');
    ok(await fly.startMachine(app, id), 'start');
    await waitFor(app, id, 'started');
    ok(await fly.cordon(app, id), 'cordon');
    ok(await fly.uncordon(app, id), 'uncordon');
    const lease = await fly.request('POST', `/v1/apps/${app}/machines/${id}/lease`);
    ok(lease, 'acquire lease');
    // While leased, a call without the nonce is refused; with it, the lease is released.
    assert.equal((await fly.releaseLease(app, id)).status, 409);
    fly.leaseNonce = lease.body.data.nonce;
    ok(await fly.releaseLease(app, id), 'release lease');
    fly.leaseNonce = undefined;
    assert.equal((await fly.getLease(app, id)).status, 404);
    ok(await fly.deleteMachine(app, id, true), 'destroy with force');
    ok(await fly.deleteApp(app), 'delete app');
    assert.equal((await fly.getApp(app)).status, 404);
  });

  test('every route the server lists takes the header, with a body only where it needs one', async () => {
    const served = routesOf((await fly.request('GET', '/v1/openapi.json')).body);
    const values: PathValues = {
      app: 'walk',
      machine: '',
      volume: '',
      token: '',
      key: 'role',
      name: 'GREETING',
      hostname: 'walk.example.test',
      version: '',
      ref: image,
      org: 'personal',
    };
    const plan = walkPlan(image, values);
    const missing = served.map(routeKey).filter((key) => !plan.has(key));
    const gone = [...plan.keys()].filter((key) => !served.some((route) => routeKey(route) === key));
    assert.deepEqual(missing, [], 'routes the walk does not know: add each to walkPlan');
    assert.deepEqual(gone, [], 'routes the walk knows that the server no longer serves');

    const seen: string[] = [];
    for (const [key, step] of plan) {
      const route = served.find((r) => routeKey(r) === key) as ApiRoute;
      if (route.body === 'required') assert.ok(step.body !== undefined, `${key} needs a body in walkPlan`);
      else assert.equal(step.body, undefined, `${key} takes no body: the walk sends none`);
      const base = urlOf(route, values);
      const url = step.query ? `${base}${base.includes('?') ? '&' : '?'}${step.query}` : base;
      const answer = await fly.request(route.method, url, step.body);
      const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? '');
      const what = `${key} → ${answer.status} ${text.slice(0, 300)}`;
      seen.push(what);
      assert.doesNotMatch(text, /FST_/, what);
      const expected = step.expect ?? [];
      const passes = expected.length ? expected.includes(answer.status) : answer.status < 300;
      assert.ok(passes, `${what}\nwalked so far:\n${seen.join('\n')}`);
      if (answer.status >= 400) assert.match(answer.body.code, /^[A-Z][A-Z_]+$/, what);
      if (route.method === 'POST' && key.endsWith('/lease')) fly.leaseNonce = answer.body.data.nonce;
      if (route.method === 'DELETE' && key.endsWith('/lease')) fly.leaseNonce = undefined;
      step.keep?.(answer.body);
      if (step.settle) await waitFor(values.app, values.machine, step.settle);
    }
  });

  test('no line of the server log repeats a key', () => {
    const lines = nearby
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'));
    assert.ok(lines.length > 10, 'the server wrote JSON log lines');
    const repeated = lines.filter((line) => repeatedKeys(line).length > 0);
    assert.deepEqual(repeated, []);
  });
});

/**
 * The walk, in order: things are made before the routes that read them, and removed at the end.
 * Keys are `METHOD path` as the OpenAPI document names them.
 */
function walkPlan(image: string, values: PathValues): Map<string, Step> {
  const machine = '/v1/apps/{app}/machines/{id}';
  const volume = '/v1/apps/{app}/volumes/{id}';
  return new Map<string, Step>([
    ['GET /health', {}],
    ['GET /v1/openapi.json', {}],
    ['GET /v1/platform', {}],
    ['GET /v1/platform/hosts', {}],
    ['GET /v1/platform/regions', {}],
    ['GET /v1/registry', {}],
    ['GET /v1/registry/token', {}],
    ['GET /v1/certificates/ca', {}],
    ['GET /v1/images', {}],
    ['POST /v1/tokens', { body: { name: 'walk' }, keep: (b) => (values.token = String(b.id)) }],
    ['POST /v1/tokens/host', {}],
    ['GET /v1/tokens', {}],
    ['GET /v1/billing/prices', {}],
    ['PUT /v1/billing/prices', { body: DEFAULT_PRICES }],
    ['PUT /v1/orgs/{org}/budget', { body: { cap_usd: 1000 } }],
    ['GET /v1/orgs/{org}/budget', {}],
    ['GET /v1/orgs/{org}/billing/usage', {}],
    ['DELETE /v1/orgs/{org}/budget', {}],
    ['POST /v1/apps', { body: { app_name: values.app, org_slug: 'personal' } }],
    ['GET /v1/apps', {}],
    ['GET /v1/apps/{app}', {}],
    ['POST /v1/apps/{app}/deploy_token', {}],
    ['POST /v1/apps/{app}/secrets', { body: { values: { OTHER: 'x' } } }],
    ['POST /v1/apps/{app}/secrets/{name}', { body: { value: 'hello' } }],
    ['GET /v1/apps/{app}/secrets', {}],
    ['GET /v1/apps/{app}/secret-values', {}],
    [
      'POST /v1/apps/{app}/releases',
      {
        body: { image, strategy: 'rolling', configs: { app: { image } } },
        keep: (b) => (values.version = String(b.version)),
      },
    ],
    ['GET /v1/apps/{app}/releases', {}],
    ['GET /v1/apps/{app}/releases/{version}', {}],
    ['PATCH /v1/apps/{app}/releases/{version}', { body: { status: 'running' } }],
    ['GET /v1/apps/{app}/autoscale', {}],
    ['POST /v1/apps/{app}/certificates', { body: { hostname: values.hostname } }],
    ['GET /v1/apps/{app}/certificates', {}],
    ['GET /v1/apps/{app}/certificates/{hostname}', {}],
    [
      'POST /v1/apps/{app}/volumes',
      { body: { name: 'data', size_gb: 1 }, keep: (b) => (values.volume = String(b.id)) },
    ],
    ['GET /v1/apps/{app}/volumes', {}],
    [`GET ${volume}`, {}],
    [`PUT ${volume}/extend`, { body: { size_gb: 2 } }],
    [`POST ${volume}/snapshots`, {}],
    [`GET ${volume}/snapshots`, {}],
    [
      'POST /v1/apps/{app}/machines',
      { body: { config: { image } }, keep: (b) => (values.machine = String(b.id)) },
    ],
    ['GET /v1/apps/{app}/machines', {}],
    [`GET ${machine}/wait`, {}],
    [`GET ${machine}`, {}],
    [`GET ${machine}/checks`, {}],
    [`GET ${machine}/events`, {}],
    [`GET ${machine}/versions`, {}],
    [`POST ${machine}/metadata/{key}`, { body: { value: 'web' } }],
    [`GET ${machine}/metadata`, {}],
    [`GET ${machine}/ps`, {}],
    [`POST ${machine}/exec`, { body: { command: ['true'] } }],
    [`POST ${machine}/signal`, { body: { signal: 'SIGHUP' } }],
    // The console's own body is a stream of frames: a JSON client sending nothing ends its input.
    [`POST ${machine}/console`, {}],
    ['GET /v1/apps/{app}/logs', {}],
    ['GET /v1/apps/{app}/events', {}],
    [`POST ${machine}/lease`, {}],
    [`GET ${machine}/lease`, {}],
    [`DELETE ${machine}/lease`, {}],
    [`POST ${machine}/cordon`, {}],
    [`POST ${machine}/uncordon`, {}],
    [`POST ${machine}/restart`, { settle: 'started' }],
    [`POST ${machine}`, { body: { config: { image, env: { WALK: '1' } } }, settle: 'started' }],
    [`POST ${machine}/stop`, { settle: 'stopped' }],
    [`POST ${machine}/start`, { settle: 'started' }],
    [`POST ${machine}/suspend`, {}],
    [`DELETE ${machine}/metadata/{key}`, {}],
    ['DELETE /v1/apps/{app}/secrets/{name}', {}],
    ['DELETE /v1/apps/{app}/certificates/{hostname}', {}],
    [`DELETE ${machine}`, { query: 'force=true' }],
    [`DELETE ${volume}`, {}],
    ['DELETE /v1/tokens/{id}', {}],
    ['DELETE /v1/apps/{app}', {}],
  ]);
}
