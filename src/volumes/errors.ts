/** Errors of the agent's volume work, each with the status the API shows when it surfaces there. */
import { NearbyError } from '../errors.ts';

export const volumeErrors = {
  commandFailed: (what: string, detail: string) =>
    new NearbyError('VOLUME_COMMAND_FAILED', `${what} failed: ${detail}`, {
      status: 500,
      hint: 'check that e2fsprogs and util-linux are installed and loop devices are available (scripts/setup.sh)',
    }),
  notFound: (id: string) =>
    new NearbyError('VOLUME_NOT_FOUND', `volume ${id} does not exist`, {
      status: 404,
      hint: 'list volumes with `nearby volumes list`',
    }),
  wrongHost: (id: string, host: string, here: string) =>
    new NearbyError('VOLUME_WRONG_HOST', `volume ${id} lives on host ${host}, not on ${here}`, {
      status: 409,
      hint: 'a machine runs on the host of the volume it mounts; recreate the machine',
    }),
  destroyed: (id: string) =>
    new NearbyError('VOLUME_DESTROYED', `volume ${id} is destroyed`, {
      status: 409,
      hint: 'create a new volume (from a snapshot: `nearby volumes create NAME --snapshot-id ID`)',
    }),
  snapshotMissing: (id: string) =>
    new NearbyError('SNAPSHOT_NOT_FOUND', `snapshot ${id} has no data on this host`, {
      status: 404,
      hint: 'list snapshots with `nearby volumes snapshots list VOLUME_ID`',
    }),
};
