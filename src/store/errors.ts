/** Errors of the store. */
import { NearbyError } from '../errors.ts';

/** Codes the store throws; callers match on these, never on messages. */
export type StoreErrorCode =
  | 'STORE_CONFLICT'
  | 'STORE_COMPACTED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_TIMEOUT'
  | 'STORE_FAILED'
  | 'STORE_CONFIG_INVALID';

export function storeConflict(key: string, expected: number, actual: number | undefined): NearbyError {
  const found = actual === undefined ? 'another' : `${actual}`;
  return new NearbyError(
    'STORE_CONFLICT',
    `${key} changed concurrently (expected revision ${expected}, found ${found})`,
    { status: 409, hint: 'read it again and retry' },
  );
}

export function watchCompacted(afterRevision: number, oldest: number): NearbyError {
  return new NearbyError(
    'STORE_COMPACTED',
    `changes after revision ${afterRevision} are no longer kept (oldest is ${oldest}); list again`,
    { status: 410 },
  );
}

/** Nothing was sent: the client has no connection to any server of the cluster right now. */
export function storeUnavailable(servers: readonly string[], cause?: unknown): NearbyError {
  return new NearbyError('STORE_UNAVAILABLE', `the store (NATS at ${servers.join(', ')}) is unreachable`, {
    status: 503,
    hint: 'check that nats-server runs there and that JetStream has a leader (nats-server logs); nearby keeps retrying',
    cause,
  });
}

/**
 * Sent, but no answer in time: a write may or may not have happened (DESIGN.md §2), so read the key
 * again before retrying.
 */
export function storeTimeout(what: string, timeoutMs: number, cause?: unknown): NearbyError {
  return new NearbyError('STORE_TIMEOUT', `the store did not answer ${what} within ${timeoutMs} ms`, {
    status: 503,
    hint: 'the outcome is unknown: read again before retrying a write',
    cause,
  });
}

export function storeFailed(what: string, cause: unknown): NearbyError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new NearbyError('STORE_FAILED', `the store refused ${what}: ${reason}`, { status: 500, cause });
}

export function storeConfigInvalid(message: string, hint: string): NearbyError {
  return new NearbyError('STORE_CONFIG_INVALID', message, { status: 400, hint });
}
