/**
 * Fuzz target: the API's request bodies. Every route of the OpenAPI document that takes a body
 * (and every POST, PUT, PATCH and DELETE that takes none) gets mutated JSON: an input is the
 * route's `METHOD path` on its first line and the body after it. Properties: the answer is a
 * success or a 4xx in nearby's error shape (`error`, a `code` of nearby's), never a 5xx, never a
 * stack trace or a framework code; the API keeps answering afterwards.
 */
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { pino } from 'pino';
import { serveMachineRequests } from '../../../src/agent/machine-requests.ts';
import type { RuntimeDriver } from '../../../src/agent/runtime/types.ts';
import { NearbyError } from '../../../src/errors.ts';
import { keys } from '../../../src/model/mod.ts';
import type { ImageService, ResolvedImage } from '../../../src/oci/types.ts';
import { type ApiRoute, type PathValues, routeKey, routesOf, urlOf } from '../../helpers/api-routes.ts';
import { inProcessApi } from '../../helpers/in-process-api.ts';
import type { MutationContext } from '../mutate.ts';
import { mutateJson } from '../mutate-text.ts';
import type { Prng } from '../prng.ts';
import type { FuzzTarget, Harness } from '../runner.ts';

const APP = 'fuzz';
const VALUES: PathValues = {
  app: APP,
  machine: '3d8e1f2a6c01b4',
  volume: 'vol_abc',
  token: 'tok_none',
  key: 'role',
  name: 'SECRET',
  hostname: 'fuzz.example.com',
  version: '1',
  ref: 'registry.test/app:1',
  org: 'personal',
};

/** Every reference resolves, so machine bodies get past the image to placement and beyond. */
const image: ResolvedImage = {
  ref: { registry: 'registry.test', repository: 'app', tag: '1', digest: `sha256:${'ab'.repeat(32)}` },
  config: { Cmd: ['/app'] },
  size: 1,
};
const images: ImageService = {
  resolve: async () => image,
  pull: async () => ({ ...image, rootfs: '/nonexistent' }),
};

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  minimum?: number;
  minItems?: number;
  pattern?: string;
};

/** A plausible instance of a JSON schema: the seed body each route's mutations start from. */
export function exampleOf(schema: Schema | undefined, depth = 0): unknown {
  if (!schema || depth > 8) return {};
  if (schema.enum) return schema.enum[0];
  const choice = schema.anyOf ?? schema.oneOf;
  if (choice) return exampleOf(choice.find((option) => option.type !== 'null') ?? choice[0], depth + 1);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const object: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(schema.properties ?? {}))
        object[key] = exampleOf(value, depth + 1);
      return object;
    }
    case 'array':
      return [exampleOf(schema.items, depth + 1)];
    case 'integer':
    case 'number':
      return schema.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      return schema.pattern?.includes('SIG') ? 'SIGTERM' : 'x';
    default:
      return schema.properties ? exampleOf({ ...schema, type: 'object' }, depth) : 'x';
  }
}

function splitInput(input: Buffer): { key: string; body: Buffer } {
  const newline = input.indexOf(10);
  return newline < 0
    ? { key: input.toString('utf8'), body: Buffer.alloc(0) }
    : { key: input.subarray(0, newline).toString('utf8'), body: input.subarray(newline + 1) };
}

export const apiBodiesTarget: FuzzTarget = {
  name: 'api-bodies',
  ext: 'txt',
  async start(): Promise<Harness> {
    const { api, store, token, close } = await inProcessApi('fuzz-api', images);
    const log = pino({ level: 'silent' });
    const call = (options: InjectOptions) =>
      api.inject({ ...options, headers: { authorization: `Bearer ${token}`, ...options.headers } });
    // One host in fra that keeps its heartbeat fresh, as its agent would.
    const heartbeat = () => {
      const now = new Date().toISOString();
      return store.put(keys.host('fuzz-host'), {
        name: 'fuzz-host',
        region: 'fra',
        runtime: 'crun',
        memory_mb: 1 << 20,
        cpus: 1024,
        heartbeat_at: now,
        started_at: now,
      });
    };
    await heartbeat();
    const beating = setInterval(() => void heartbeat(), 1_000);
    const createApp = async () => {
      const created = await call({ method: 'POST', url: '/v1/apps', payload: { app_name: APP } });
      assert.ok([201, 409].includes(created.statusCode), created.body);
    };
    await createApp();
    // The agent's request server answers exec, signal and ps: its machines never run here.
    const stopped = new AbortController();
    const notRunning = async (machine: string) => {
      throw new NearbyError('MACHINE_STATE', `machine ${machine} is not running`, { status: 409 });
    };
    const runtime = { exec: notRunning, kill: notRunning, inspect: notRunning } as unknown as RuntimeDriver;
    void serveMachineRequests(store, 'fuzz-host', runtime, log, stopped.signal);
    // A machine and a volume of the app, so that their routes get past "not found".
    const created = async (url: string, payload: object) => {
      const response = await call({ method: 'POST', url, payload });
      assert.equal(response.statusCode, 200, response.body);
      return (response.json() as { id: string }).id;
    };
    const machine = { image: 'registry.test/app:1', guest: { cpus: 1, memory_mb: 256 } };
    const values: PathValues = {
      ...VALUES,
      machine: await created(`/v1/apps/${APP}/machines`, { config: machine }),
      volume: await created(`/v1/apps/${APP}/volumes`, { name: 'data', region: 'fra', size_gb: 1 }),
    };
    const document = (await call({ method: 'GET', url: '/v1/openapi.json' })).json() as {
      paths: Record<
        string,
        Record<
          string,
          { requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> } }
        >
      >;
    };
    // GET and HEAD carry no body; the others all get one, wanted or not.
    const routes = routesOf(document).filter((route) => !['GET', 'HEAD'].includes(route.method));
    const byKey = new Map<string, ApiRoute>(routes.map((route) => [routeKey(route), route]));
    const seeds = routes.map((route) => {
      const operation = document.paths[route.path][route.method.toLowerCase()];
      const schema = operation.requestBody?.content?.['application/json']?.schema;
      return Buffer.from(`${routeKey(route)}\n${JSON.stringify(exampleOf(schema))}`);
    });
    const dictionary = [
      ...new Set(
        JSON.stringify(document)
          .match(/"[a-z_]{2,30}"/g)!
          .map((word) => word.slice(1, -1)),
      ),
      '__proto__',
      'constructor',
      'prototype',
      APP,
      values.machine,
      values.volume,
    ];
    let calls = 0;
    return {
      dictionary,
      seeds,
      mutate(input: Buffer, rng: Prng, context: MutationContext) {
        const { key, body } = splitInput(input);
        const route = rng.chance(0.05) ? rng.pick([...byKey.keys()]) : key;
        return Buffer.concat([Buffer.from(`${route}\n`), mutateJson(body, rng, context)]);
      },
      async run(input) {
        const { key, body } = splitInput(input);
        const route = byKey.get(key);
        if (!route) return 'no such route';
        const response = await call({
          method: route.method as 'POST',
          url: urlOf(route, values),
          headers: { 'content-type': 'application/json' },
          payload: body,
        });
        const what = `${key} answered ${response.statusCode}: ${response.body.slice(0, 500)}`;
        assert.ok(response.statusCode < 500, what);
        assert.doesNotMatch(response.body, /FST_|\n\s+at |node:internal|\.ts:\d+/, what);
        let code = '';
        if (response.statusCode >= 400) {
          const reply = JSON.parse(response.body) as { error?: unknown; code?: unknown };
          assert.ok(typeof reply.error === 'string' && reply.error !== '', what);
          assert.match(String(reply.code), /^[A-Z][A-Z0-9_]+$/, what);
          // The message without values: which field and what is wrong, so each new reason is kept.
          code = `${reply.code} ${reply.error.replace(/'[^']*'|"[^"]*"|\d+/g, '').slice(0, 80)}`;
        }
        if (key === `DELETE /v1/apps/{app}` && response.statusCode < 300) await createApp();
        if (++calls % 25 === 0) {
          const alive = await call({ method: 'GET', url: `/v1/apps/${APP}` });
          assert.ok(alive.statusCode < 500, `the API still answers: ${alive.statusCode} ${alive.body}`);
        }
        return `${key} ${response.statusCode} ${code}`;
      },
      async close() {
        stopped.abort();
        clearInterval(beating);
        await close();
      },
    };
  },
};
