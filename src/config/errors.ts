/** Errors of the config part: reading a fly.toml / nearby.toml and turning it into machine configs. */
import { NearbyError } from '../errors.ts';

export function configNotFound(path: string, cause: unknown): NearbyError {
  return new NearbyError('CONFIG_NOT_FOUND', `cannot read the app config ${path}`, {
    status: 400,
    hint: 'run `nearby launch` to write one, or pass --config with the path of your fly.toml',
    cause,
  });
}

export function unknownProcessGroup(group: string, groups: string[]): NearbyError {
  return new NearbyError(
    'CONFIG_UNKNOWN_PROCESS_GROUP',
    `process group "${group}" is not defined in [processes] (groups: ${groups.join(', ')})`,
    { status: 400, hint: 'add it to [processes] or pick one of the groups listed' },
  );
}

export function configFileUnreadable(guestPath: string, localPath: string, cause: unknown): NearbyError {
  return new NearbyError(
    'CONFIG_FILE_UNREADABLE',
    `[[files]] ${guestPath}: cannot read local_path ${localPath}`,
    { status: 400, hint: 'local_path is read relative to the directory you run nearby in', cause },
  );
}
