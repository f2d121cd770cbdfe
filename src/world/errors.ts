/** The world's errors: each with a stable code the CLI and tests match, and a hint for the user. */
import { NearbyError } from '../errors.ts';

export type WorldErrorCode =
  | 'WORLD_UNKNOWN_CITY'
  | 'WORLD_MISSING_PAIR'
  | 'WORLD_MATRIX_INVALID'
  | 'WORLD_EXISTS'
  | 'WORLD_NOT_FOUND'
  | 'WORLD_INVALID'
  | 'WORLD_UP_FAILED';

export function worldError(
  code: WorldErrorCode,
  message: string,
  hint?: string,
  cause?: unknown,
): NearbyError {
  return new NearbyError(code, message, { hint, cause, status: 400 });
}
