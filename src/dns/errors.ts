/** The machines' resolver's errors: each with a stable code the CLI and tests match, and a hint. */
import { NearbyError } from '../errors.ts';

export type DnsErrorCode = 'DNS_LISTEN_FAILED' | 'DNS_UPSTREAM_INVALID' | 'DNS_UPSTREAM_FAILED';

export function dnsError(code: DnsErrorCode, message: string, hint?: string, cause?: unknown): NearbyError {
  return new NearbyError(code, message, { hint, cause, status: code === 'DNS_UPSTREAM_INVALID' ? 400 : 500 });
}
