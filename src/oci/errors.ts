/** Errors of the image part (`src/oci`): each has a stable code and the HTTP status the API answers with. */
import { errorMessage, NearbyError } from '../errors.ts';

export function imageRefInvalid(reference: string, why: string): NearbyError {
  return new NearbyError('IMAGE_REF_INVALID', `image reference "${reference}" is invalid: ${why}`, {
    status: 422,
    hint: 'use a reference like registry.example.com:5000/team/app:1.2 or app@sha256:<64 hex digits>',
  });
}

export function imageNotFound(reference: string, detail?: string): NearbyError {
  return new NearbyError(
    'IMAGE_NOT_FOUND',
    `image ${reference} not found: ${detail ?? 'the registry has no such repository or tag'}; check the name, or push it first`,
    { status: 422 },
  );
}

export function registryUnreachable(registry: string, url: string, cause: unknown): NearbyError {
  return new NearbyError(
    'REGISTRY_UNREACHABLE',
    `registry ${registry} is unreachable (${url}): ${causeText(cause)}`,
    {
      status: 502,
      hint: 'check that the registry is running and that its address and port are right',
      cause,
    },
  );
}

export function registryAuthFailed(registry: string, why: string, cause?: unknown): NearbyError {
  return new NearbyError('REGISTRY_AUTH_FAILED', `registry ${registry} refused our credentials: ${why}`, {
    status: 502,
    hint: 'check the credentials configured for this registry, and that they may pull (or push) this repository',
    cause,
  });
}

export function registryInsecure(registry: string, cause: unknown): NearbyError {
  return new NearbyError(
    'REGISTRY_INSECURE',
    `registry ${registry} does not answer over HTTPS (${causeText(cause)}), and plain HTTP is only used for loopback registries or those listed in insecureRegistries`,
    { status: 502, hint: `add "${registry}" to insecureRegistries if it really serves plain HTTP`, cause },
  );
}

export function registryError(registry: string, what: string, status: number, body: string): NearbyError {
  return new NearbyError(
    'REGISTRY_ERROR',
    `registry ${registry} answered ${status} to ${what}${body ? `: ${body.slice(0, 300)}` : ''}`,
    { status: 502 },
  );
}

export function digestMismatch(what: string, expected: string, actual: string): NearbyError {
  return new NearbyError(
    'IMAGE_DIGEST_MISMATCH',
    `${what} has digest ${actual}, but ${expected} was expected: the registry served corrupted or different content`,
    {
      status: 502,
      hint: 'pull again; if it persists, the registry storage is damaged: push the image again',
    },
  );
}

export function manifestUnsupported(reference: string, why: string): NearbyError {
  return new NearbyError('IMAGE_MANIFEST_UNSUPPORTED', `image ${reference}: ${why}`, { status: 422 });
}

export function layerUnsafe(layer: string, entry: string, why: string): NearbyError {
  return new NearbyError(
    'IMAGE_LAYER_UNSAFE',
    `layer ${layer} has an unsafe entry "${entry}": ${why}; nothing was written outside the image root`,
    { status: 422, hint: 'rebuild the image with a tool that writes relative paths only' },
  );
}

export function layerInvalid(layer: string, entry: string, why: string, cause?: unknown): NearbyError {
  return new NearbyError('IMAGE_LAYER_INVALID', `layer ${layer}, entry "${entry}": ${why}`, {
    status: 422,
    cause,
  });
}

export function pullFailed(reference: string, cause: unknown): NearbyError {
  return new NearbyError('IMAGE_PULL_FAILED', `pulling image ${reference} failed: ${errorMessage(cause)}`, {
    status: cause instanceof NearbyError ? cause.status : 502,
    hint: cause instanceof NearbyError ? cause.hint : undefined,
    cause,
  });
}

/** The innermost useful message: fetch wraps socket errors as "fetch failed" with the real one as cause. */
export function causeText(error: unknown): string {
  let current = error;
  let text = errorMessage(error);
  for (let depth = 0; depth < 5 && current instanceof Error && current.cause !== undefined; depth++) {
    current = current.cause;
    text = errorMessage(current);
  }
  const code = (current as { code?: string } | undefined)?.code;
  return code && !text.includes(code) ? `${code} ${text}` : text;
}
