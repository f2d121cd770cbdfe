/** Errors of the volumes API, each with the HTTP status it answers with. */
import { NearbyError } from '../errors.ts';

export const volumeApiErrors = {
  notFound: (app: string, id: string) =>
    new NearbyError('VOLUME_NOT_FOUND', `volume ${id} not found in app '${app}'`, {
      status: 404,
      hint: `list volumes with \`nearby volumes list -a ${app}\``,
    }),
  snapshotNotFound: (app: string, id: string) =>
    new NearbyError('SNAPSHOT_NOT_FOUND', `snapshot ${id} not found in app '${app}'`, {
      status: 404,
      hint: "list a volume's snapshots with `nearby volumes snapshots list VOLUME_ID`",
    }),
  snapshotNotReady: (id: string, state: string) =>
    new NearbyError('SNAPSHOT_NOT_READY', `snapshot ${id} is ${state}, not created`, {
      status: 409,
      hint: 'wait until `nearby volumes snapshots list` shows it created',
    }),
  badName: (name: string) =>
    new NearbyError('VOLUME_NAME_INVALID', `volume name '${name}' is invalid`, {
      status: 422,
      hint: 'use 1–30 letters, digits and underscores (e.g. "data")',
    }),
  badSize: (size: number) =>
    new NearbyError('VOLUME_SIZE_INVALID', `volume size ${size} GB is invalid`, {
      status: 422,
      hint: 'give a whole number of GB from 1 to 500',
    }),
  cannotShrink: (id: string, current: number, wanted: number) =>
    new NearbyError(
      'VOLUME_CANNOT_SHRINK',
      `volume ${id} is ${current} GB; it can only grow, not to ${wanted} GB`,
      {
        status: 422,
        hint: `give a size above ${current} GB`,
      },
    ),
  attached: (id: string, machine: string) =>
    new NearbyError('VOLUME_ATTACHED', `volume ${id} is attached to machine ${machine}`, {
      status: 409,
      hint: `destroy machine ${machine} first (\`nearby machine destroy --force ${machine}\`), or mount another volume`,
    }),
  destroyed: (id: string) =>
    new NearbyError('VOLUME_DESTROYED', `volume ${id} is destroyed`, {
      status: 409,
      hint: 'create a new one with `nearby volumes create`',
    }),
  wrongRegion: (id: string, volumeRegion: string, region: string) =>
    new NearbyError(
      'VOLUME_WRONG_REGION',
      `volume ${id} is in region ${volumeRegion}, the machine in ${region}`,
      {
        status: 422,
        hint: `create the machine in ${volumeRegion}, or use a volume in ${region}`,
      },
    ),
  wrongHost: (id: string, volumeHost: string, host: string) =>
    new NearbyError('VOLUME_WRONG_HOST', `volume ${id} is on host ${volumeHost}, the machine on ${host}`, {
      status: 422,
      hint: 'a machine runs on the host of its volumes: mount volumes of one host, or make a new machine',
    }),
};
