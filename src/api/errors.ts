/**
 * Errors of the control-plane API, each with the HTTP status it answers with, and the translation
 * of the web framework's own errors into them: a client only ever sees nearby's codes.
 */
import type { FastifyError } from 'fastify';
import { isNearbyError, NearbyError } from '../errors.ts';
import type { GuestConfig } from '../model/mod.ts';
import { type Resources, SHARED_CPU_OVERCOMMIT } from './host-load.ts';

const JSON_HINT = "send a JSON body with 'Content-Type: application/json', or no body at all";

export const apiErrors = {
  unauthorized: () =>
    new NearbyError('UNAUTHORIZED', 'missing or invalid API token', {
      status: 401,
      hint: 'send "Authorization: Bearer <token>"; the admin token is in <data-dir>/admin-token',
    }),
  tokenExpired: () =>
    new NearbyError('TOKEN_EXPIRED', 'the API token has expired', {
      status: 401,
      hint: 'make a new one with `nearby tokens create`',
    }),
  forbidden: (message: string) => new NearbyError('FORBIDDEN', message, { status: 403 }),
  rateLimited: (what: string, retryAfterSeconds: number) =>
    new NearbyError('RATE_LIMITED', `too many requests for ${what}; retry in ${retryAfterSeconds}s`, {
      status: 429,
      hint: 'slow down: wait for the Retry-After header before the next request',
    }),
  leased: (id: string, owner: string, expiresAt: number) =>
    new NearbyError(
      'MACHINE_LEASED',
      `machine ${id} is leased by ${owner} until ${new Date(expiresAt * 1000).toISOString()}`,
      {
        status: 409,
        hint: 'send the lease nonce in the fly-machine-lease-nonce header, or wait for it to expire',
      },
    ),
  leaseNotFound: (id: string) =>
    new NearbyError('LEASE_NOT_FOUND', `machine ${id} has no active lease`, { status: 404 }),
  agentTimeout: (id: string, seconds: number) =>
    new NearbyError('AGENT_TIMEOUT', `the agent running machine ${id} did not answer within ${seconds}s`, {
      status: 504,
      hint: 'check that its host is up (`nearby machine status`)',
    }),
  secretNotFound: (app: string, name: string) =>
    new NearbyError('SECRET_NOT_FOUND', `app '${app}' has no secret named '${name}'`, {
      status: 404,
      hint: `list them with \`nearby secrets list -a ${app}\``,
    }),
  tokenNotFound: (id: string) =>
    new NearbyError('TOKEN_NOT_FOUND', `no token with id '${id}'`, {
      status: 404,
      hint: 'list tokens with `nearby tokens list`',
    }),
  appNotFound: (app: string) =>
    new NearbyError('APP_NOT_FOUND', `app '${app}' not found`, {
      status: 404,
      hint: 'list apps with `nearby apps list`, or create it with `nearby launch`',
    }),
  appExists: (app: string) =>
    new NearbyError('APP_EXISTS', `app '${app}' already exists`, { status: 409, hint: 'pick another name' }),
  appNameInvalid: (app: string) =>
    new NearbyError(
      'APP_NAME_INVALID',
      `app name '${app}' is invalid: use 2–63 lowercase letters, digits and dashes, starting with a letter`,
      { status: 422 },
    ),
  machineNotFound: (app: string, id: string) =>
    new NearbyError('MACHINE_NOT_FOUND', `machine ${id} not found in app '${app}'`, {
      status: 404,
      hint: `list machines with \`nearby machine list -a ${app}\``,
    }),
  machineState: (id: string, state: string, wanted: string) =>
    new NearbyError('MACHINE_STATE', `machine ${id} is ${state}; ${wanted}`, { status: 409 }),
  noHost: (region: string, available: string[]) =>
    new NearbyError(
      'NO_HOST',
      available.length === 0
        ? `no host in region '${region}', and no host is up in any region`
        : `no host in region '${region}'; regions with hosts: ${available.join(', ')}`,
      {
        status: 422,
        hint: available.length
          ? `pass --region ${available[0]} (or set primary_region), or start a host there: \`nearby agent --region ${region}\``
          : 'start `nearby server` (or `nearby agent --region REGION`) and check `nearby platform hosts`',
      },
    ),
  regionDown: (region: string, hosts: number, silentMs: number, others: string[]) =>
    new NearbyError(
      'REGION_DOWN',
      `region '${region}' has ${hosts} host${hosts === 1 ? '' : 's'}, none of them up (the last heartbeat is ${Math.round(silentMs / 1000)}s old)`,
      {
        status: 503,
        hint: `restart the agent of a host in ${region} (see \`nearby platform hosts\`)${others.length ? `, or use another region: ${others.join(', ')}` : ''}`,
      },
    ),
  runtimeUnsupported: (runtime: string, region: string) =>
    new NearbyError('RUNTIME_UNSUPPORTED', `no host in region '${region}' can run a ${runtime} machine`, {
      status: 422,
      hint:
        runtime === 'microvm'
          ? 'install QEMU and the guest kernel on a host (scripts/setup.sh, scripts/microvm-assets.sh) and restart its server, or drop config.runtime'
          : 'drop config.runtime to use the host default',
    }),
  noCapacity: (region: string, guest: GuestConfig | undefined, hosts: HostShortage[], elsewhere: string[]) =>
    new NearbyError(
      'NO_CAPACITY',
      `no host in region '${region}' has room for a machine of ${describeGuest(guest)}: ${hosts
        .slice(0, 5)
        .map(describeShortage)
        .join('; ')}${hosts.length > 5 ? `; and ${hosts.length - 5} more hosts` : ''}`,
      {
        status: 422,
        hint: [
          'pick a smaller size (`--memory`, `--cpus`, `nearby scale memory`)',
          'destroy machines you no longer need (stopped ones keep their room)',
          `add a host: \`nearby agent --region ${region}\``,
          ...(elsewhere.length ? [`or use a region with room: ${elsewhere.join(', ')}`] : []),
        ].join(', '),
      },
    ),
  noRoomToResize: (id: string, guest: GuestConfig | undefined, host: HostShortage) =>
    new NearbyError(
      'NO_CAPACITY',
      `machine ${id} cannot grow to ${describeGuest(guest)}: ${describeShortage(host)}`,
      {
        status: 422,
        hint: `a machine stays on its host when updated; pick a smaller size, destroy other machines on ${host.host}, or create a new machine of that size (the scheduler finds a host with room) and destroy this one`,
      },
    ),
  badRequest: (message: string) => new NearbyError('BAD_REQUEST', message, { status: 400 }),
  invalidJson: (detail: string) =>
    new NearbyError('INVALID_JSON', `the request body is not valid JSON: ${detail}`, {
      status: 400,
      hint: JSON_HINT,
    }),
  unsupportedMediaType: (contentType: string | undefined) =>
    new NearbyError(
      'UNSUPPORTED_MEDIA_TYPE',
      contentType
        ? `a request body of type '${contentType}' is not accepted`
        : 'a request body without a Content-Type is not accepted',
      { status: 415, hint: JSON_HINT },
    ),
  invalidMediaType: () =>
    new NearbyError('UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is not a valid media type', {
      status: 415,
      hint: JSON_HINT,
    }),
  bodyTooLarge: () =>
    new NearbyError('BODY_TOO_LARGE', 'the request body is larger than the API accepts', { status: 413 }),
  invalidUrl: (message: string, status = 400) =>
    new NearbyError('INVALID_URL', message, {
      status,
      hint: 'percent-encode the URL path, and keep each of its segments under 100 characters',
    }),
  requestTimeout: () =>
    new NearbyError('REQUEST_TIMEOUT', 'the request was not received in time', { status: 408 }),
  headersTooLarge: () =>
    new NearbyError('HEADERS_TOO_LARGE', 'the request headers are larger than the API accepts', {
      status: 431,
    }),
  notFound: (method: string, url: string) =>
    new NearbyError('NOT_FOUND', `no such endpoint: ${method} ${url}`, {
      status: 404,
      hint: 'the endpoints are listed in GET /v1/openapi.json',
    }),
  dashboardNotBuilt: () =>
    new NearbyError('DASHBOARD_NOT_BUILT', 'the web dashboard is not built on this host', {
      status: 404,
      hint: 'build it with `scripts/build-web.sh` (`npm run up` and `npm test` do), then reload',
    }),
  methodNotAllowed: (method: string, url: string, allowed: string[]) =>
    new NearbyError(
      'METHOD_NOT_ALLOWED',
      `${url} does not answer ${method}; it answers ${allowed.join(', ')}`,
      {
        status: 405,
      },
    ),
  invalid: (message: string) => new NearbyError('INVALID', message, { status: 422 }),
  waitTimeout: (id: string, state: string, seconds: number) =>
    new NearbyError('WAIT_TIMEOUT', `machine ${id} did not reach state '${state}' within ${seconds}s`, {
      status: 408,
    }),
};

/** One host of a region without room, and which of its resources the machine does not fit in. */
export interface HostShortage {
  host: string;
  capacity: Resources;
  used: Resources;
  short: (keyof Resources)[];
}

function describeGuest(guest: GuestConfig | undefined): string {
  const cpus = guest?.cpus ?? 1;
  return `${cpus} ${guest?.cpu_kind ?? 'shared'} vCPU${cpus === 1 ? '' : 's'} and ${guest?.memory_mb ?? 256} MB`;
}

const cores = (n: number) => String(Math.round(n * 100) / 100);

function describeShortage({ host, capacity, used, short }: HostShortage): string {
  const what = short.map((resource) => {
    switch (resource) {
      case 'memory_mb':
        return `memory (${Math.max(0, capacity.memory_mb - used.memory_mb)} of ${capacity.memory_mb} MB free)`;
      case 'cpus':
        return `CPU (${cores(Math.max(0, capacity.cpus - used.cpus))} of ${cores(capacity.cpus)} cores free; a shared vCPU takes 1/${SHARED_CPU_OVERCOMMIT})`;
      default:
        return `machine cap (${used.machines} of ${capacity.machines} machines)`;
    }
  });
  return `${host} is short of ${what.join(' and ')}`;
}

/**
 * Any error a request ends with, as the NearbyError the client gets. The framework's own errors
 * (its codes are `FST_…`) become nearby's: they say what to change, and their codes are stable.
 */
export function toApiError(error: unknown): NearbyError {
  if (isNearbyError(error)) return error;
  const framework = error as Partial<FastifyError>;
  if (framework.validation) return validationError(framework as FastifyError);
  switch (framework.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return apiErrors.invalidMediaType();
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return apiErrors.bodyTooLarge();
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return apiErrors.badRequest('the request body is not as long as its Content-Length says');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return apiErrors.invalidJson('it does not parse');
    case 'FST_ERR_BAD_URL':
      return apiErrors.invalidUrl('the URL path is not valid percent-encoding');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return apiErrors.invalidUrl('a segment of the URL path is longer than 100 characters', 414);
  }
  const status = framework.statusCode ?? 500;
  const message = framework.message ?? String(error);
  if (status < 500) return new NearbyError(statusCodes[status] ?? 'BAD_REQUEST', message, { status });
  return new NearbyError('INTERNAL', `internal error: ${message}`, { status: 500, cause: error });
}

// Client errors from elsewhere in the framework (or a library) keep their status, with our code.
const statusCodes: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'BODY_TOO_LARGE',
  414: 'INVALID_URL',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Schema validation failures, each naming the field (`body.config.guest.cpus: must be integer`). */
function validationError(error: FastifyError): NearbyError {
  const where = error.validationContext ?? 'body';
  const details = (error.validation ?? []).map((v) => {
    const path = `${where}${v.instancePath}`.replaceAll('/', '.');
    const allowed = (v.params as { allowedValues?: unknown[] }).allowedValues;
    return `${path}: ${v.message}${allowed ? ` (${allowed.join(', ')})` : ''}`;
  });
  return new NearbyError('BAD_REQUEST', `invalid request: ${[...new Set(details)].join('; ')}`, {
    status: 400,
    hint: "GET /v1/openapi.json describes every endpoint's parameters and body",
  });
}
