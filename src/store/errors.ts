/** Errors of the store. */
import { NearbyError } from '../errors.ts';

export function storeConflict(key: string, expected: number, actual: number): NearbyError {
  return new NearbyError(
    'STORE_CONFLICT',
    `${key} changed concurrently (expected revision ${expected}, found ${actual})`,
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
