/** Errors of the control-plane API, each with the HTTP status it answers with. */
import { NearbyError } from '../errors.ts';

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
        ? 'no host is running an agent; start `nearby server` (or `nearby agent`)'
        : `no host in region '${region}'; regions with hosts: ${available.join(', ')}`,
      { status: 422, hint: available.length ? `pass --region ${available[0]}` : undefined },
    ),
  badRequest: (message: string) => new NearbyError('BAD_REQUEST', message, { status: 400 }),
  invalid: (message: string) => new NearbyError('INVALID', message, { status: 422 }),
  waitTimeout: (id: string, state: string, seconds: number) =>
    new NearbyError('WAIT_TIMEOUT', `machine ${id} did not reach state '${state}' within ${seconds}s`, {
      status: 408,
    }),
};
