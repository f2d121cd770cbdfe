/**
 * The one error base of nearby. Every part declares its errors with a stable `code` (matched by
 * callers, never the message), the HTTP status the API answers with, and a hint for the CLI.
 */
export interface NearbyErrorOptions {
  status?: number;
  hint?: string;
  cause?: unknown;
}

export class NearbyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: NearbyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NearbyError';
    this.code = code;
    this.status = options.status ?? 500;
    this.hint = options.hint;
  }
}

export function isNearbyError(error: unknown, code?: string): error is NearbyError {
  return error instanceof NearbyError && (code === undefined || error.code === code);
}

/** The message of any thrown value, for logs and events. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
