/**
 * The OpenAPI 3 document of the API, generated from the route table: every route's JSON schemas
 * (the ones fastify validates requests with) become its parameters and request body, so the
 * document cannot drift from what the server accepts.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { responseSchemas } from './response-schemas.ts';

interface RouteDoc {
  method: string;
  url: string;
  schema: Record<string, unknown>;
}

interface ObjectSchema {
  properties?: Record<string, Record<string, unknown>>;
  required?: string[];
}

const PUBLIC = new Set(['/health', '/v1/openapi.json']);

/** Collects routes as they are added; call before any route is registered. */
export function collectRoutes(api: FastifyInstance): RouteDoc[] {
  const routes: RouteDoc[] = [];
  api.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || route.url.includes('*')) continue;
      routes.push({
        method: method.toLowerCase(),
        url: route.url,
        schema: (route.schema ?? {}) as Record<string, unknown>,
      });
    }
  });
  return routes;
}

function parameters(schema: unknown, where: 'path' | 'query') {
  const object = (schema ?? {}) as ObjectSchema;
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

/** A body schema that takes `null` takes no body: the API reads an absent body as null. */
function acceptsNull(schema: unknown): boolean {
  const { type, anyOf } = (schema ?? {}) as { type?: unknown; anyOf?: unknown[] };
  return type === 'null' || (Array.isArray(type) && type.includes('null')) || (anyOf ?? []).some(acceptsNull);
}

export function openApiDocument(routes: RouteDoc[], info: { version: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, url, schema } of routes) {
    const path = url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const pathNames = [...url.matchAll(/:([A-Za-z_]+)/g)].map((m) => m[1]);
    const pathParams = parameters(schema.params, 'path');
    for (const name of pathNames) {
      if (!pathParams.some((p) => p.name === name)) {
        pathParams.push({ name, in: 'path', required: true, schema: { type: 'string' } });
      }
    }
    const operation: Record<string, unknown> = {
      operationId: `${method}_${path.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '')}`,
      summary: schema.summary,
      tags: [
        url.split('/')[2] === 'apps' && url.split('/')[4]
          ? url.split('/')[4]
          : (url.split('/')[2] ?? 'health'),
      ],
      parameters: [...pathParams, ...parameters(schema.querystring, 'query')],
      responses: {
        default: {
          description: 'An error: {"error": message, "code": CODE, "hint"?: text}',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
        [String(schema.returnsStatus ?? 200)]: {
          description: 'Success',
          ...(schema.returns
            ? {
                content: {
                  'application/json': { schema: { $ref: `#/components/schemas/${schema.returns}` } },
                },
              }
            : {}),
        },
      },
      ...(PUBLIC.has(url) ? { security: [] } : {}),
    };
    if (schema.body) {
      operation.requestBody = {
        required: !acceptsNull(schema.body),
        content: { 'application/json': { schema: schema.body } },
      };
    }
    paths[path] = { ...paths[path], [method]: operation };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'nearby Machines API',
      version: info.version,
      description:
        "Fly.io's Machines API shape: a client written for it works by changing the base URL and token.",
    },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        ...responseSchemas,
        Error: {
          type: 'object',
          required: ['error', 'code'],
          properties: { error: { type: 'string' }, code: { type: 'string' }, hint: { type: 'string' } },
        },
      },
    },
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
  };
}
