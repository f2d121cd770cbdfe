/** Errors of the edge routing part (the GeoDNS and Anycast): stable codes, each with a hint. */
import { NearbyError } from '../errors.ts';

export type EdgeErrorCode =
  | 'EDGE_TABLE_INVALID'
  | 'EDGE_UNKNOWN_REGION'
  | 'EDGE_LISTEN_FAILED'
  | 'ANYCAST_INVALID'
  | 'ANYCAST_BIRD_FAILED';

export function edgeError(code: EdgeErrorCode, message: string, hint?: string, cause?: unknown): NearbyError {
  return new NearbyError(code, message, { hint, cause, status: 400 });
}
