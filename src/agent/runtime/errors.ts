/**
 * Errors of the runtime driver part, matched by `code`. Messages say what failed and what to do.
 */
import { NearbyError } from '../../errors.ts';

export function runtimeUnavailable(message: string, cause?: unknown): NearbyError {
  return new NearbyError('RUNTIME_UNAVAILABLE', message, {
    status: 503,
    hint: 'Install crun or runc, run scripts/host-prep.sh as root, and build the shim with scripts/build-native.sh.',
    cause,
  });
}

export function sandboxNotFound(id: string): NearbyError {
  return new NearbyError('SANDBOX_NOT_FOUND', `sandbox '${id}' is not prepared on this host`, {
    status: 404,
    hint: 'Call prepare() with the machine spec before starting it.',
  });
}

export function sandboxStartFailed(id: string, detail: string, cause?: unknown): NearbyError {
  return new NearbyError('SANDBOX_START_FAILED', `sandbox '${id}' failed to start: ${detail}`, {
    status: 500,
    hint: "Check the machine's command and the image; the runtime's own message is in the machine log.",
    cause,
  });
}

export function runtimeCommandFailed(what: string, stderr: string, cause?: unknown): NearbyError {
  return new NearbyError('RUNTIME_COMMAND_FAILED', `${what} failed: ${stderr.trim() || 'no output'}`, {
    status: 500,
    cause,
  });
}

export function overlayMountFailed(target: string, stderr: string): NearbyError {
  return new NearbyError(
    'OVERLAY_MOUNT_FAILED',
    `cannot mount the machine's root at ${target}: ${stderr.trim()}`,
    {
      status: 500,
      hint: 'The data directory must be on a filesystem that overlayfs accepts as upper layer (ext4, xfs).',
    },
  );
}

export function sandboxNotRunning(id: string, state: string): NearbyError {
  return new NearbyError('SANDBOX_NOT_RUNNING', `sandbox '${id}' is ${state}, not running`, { status: 409 });
}

export function sandboxIdInvalid(id: string): NearbyError {
  return new NearbyError(
    'SANDBOX_ID_INVALID',
    `sandbox id '${id}' may only hold letters, digits, _ . and -`,
    {
      status: 400,
    },
  );
}
