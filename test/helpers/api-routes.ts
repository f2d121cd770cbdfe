/**
 * The API's routes as the server itself lists them (its OpenAPI document), for tests that walk
 * every route: a route added to the API is walked without anyone adding it to a list.
 */

export interface ApiRoute {
  /** Upper case: `POST`. */
  method: string;
  /** OpenAPI form: `/v1/apps/{app}/machines/{id}/start`. */
  path: string;
  /** Whether the route needs a body ('optional': it takes one, or none). */
  body: 'required' | 'optional' | 'none';
  /** Query parameters the route needs. */
  query: string[];
}

interface OpenApiOperation {
  requestBody?: { required?: boolean };
  parameters?: { name: string; in: string; required?: boolean }[];
}

export function routesOf(document: { paths: Record<string, Record<string, OpenApiOperation>> }): ApiRoute[] {
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      body: operation.requestBody
        ? operation.requestBody.required
          ? ('required' as const)
          : ('optional' as const)
        : ('none' as const),
      query: (operation.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => p.name),
    })),
  );
}

/** Values for a walk's path parameters; `{id}` is a machine, volume or token by the segment before it. */
export interface PathValues {
  app: string;
  machine: string;
  volume: string;
  token: string;
  key: string;
  name: string;
  hostname: string;
  version: string;
  /** `GET /v1/images?ref=`. */
  ref: string;
  /** `/v1/orgs/{org}/…` (billing). */
  org?: string;
}

/** The route's URL: path parameters filled in, and the query parameters it needs. */
export function urlOf(route: ApiRoute, values: PathValues): string {
  const named = values as unknown as Record<string, string | undefined>;
  const query = new URLSearchParams();
  for (const name of route.query) {
    const value = named[name];
    if (value === undefined) throw new Error(`no test value for ?${name} in ${routeKey(route)}`);
    query.set(name, value);
  }
  return `${fillPath(route.path, values)}${route.query.length ? `?${query}` : ''}`;
}

function fillPath(path: string, values: PathValues): string {
  return path.replace(/(\w+)\/\{(\w+)\}/g, (_whole, before: string, name: string) => {
    const value =
      name === 'id'
        ? { machines: values.machine, volumes: values.volume, tokens: values.token }[before]
        : (values as unknown as Record<string, string | undefined>)[name];
    if (value === undefined) throw new Error(`no test value for {${name}} after '${before}' in ${path}`);
    return `${before}/${encodeURIComponent(value)}`;
  });
}

/** Each route's `METHOD path` key, as walks name them. */
export const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
