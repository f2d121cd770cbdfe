/**
 * Errors of the microVM driver, matched by `code`. Messages say what is wrong and what to do.
 */
import { NearbyError } from '../../../errors.ts';

export function microvmUnavailable(message: string, hint: string): NearbyError {
  return new NearbyError('RUNTIME_UNAVAILABLE', message, { status: 503, hint });
}

export function guestUnreachable(id: string, detail: string, cause?: unknown): NearbyError {
  return new NearbyError('MICROVM_UNREACHABLE', `microVM '${id}' did not answer: ${detail}`, {
    status: 502,
    hint: 'The guest may still be booting (seconds under TCG); retry, or see `nearby logs` for its output.',
    cause,
  });
}
