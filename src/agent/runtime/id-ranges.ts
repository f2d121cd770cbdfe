/**
 * Each container machine runs in its own user namespace, mapped onto its own range of host user and
 * group ids: root in the machine is an unprivileged id on the host, and no two machines on a host
 * share an id. A range is a file `<dir>/<slot>` created exclusively (O_EXCL), holding its owner (the
 * sandbox record's path): host-wide, so data dirs on one kernel (the world's hosts) never collide,
 * and on disk, so a machine keeps its range across restarts of the machine and of nearby.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NearbyError } from '../../errors.ts';

/** Above the ids of the host's users and of /etc/subuid's usual ranges (100000…). */
export const ID_RANGE_BASE = 2 ** 30;
/** 65536 ids: every uid and gid an image may use (nobody = 65534 included). */
export const ID_RANGE_SIZE = 65536;
const SLOTS = Math.floor((2 ** 32 - 1 - ID_RANGE_BASE) / ID_RANGE_SIZE);
export const DEFAULT_ID_RANGES_DIR = '/var/lib/nearby/id-ranges';
/** A claim whose owner's record does not exist yet is left alone this long (prepare writes it next). */
const YOUNG_CLAIM_MS = 60_000;

export function hostIdOf(slot: number): number {
  return ID_RANGE_BASE + slot * ID_RANGE_SIZE;
}

function slotOf(hostId: number): number {
  return (hostId - ID_RANGE_BASE) / ID_RANGE_SIZE;
}

/** Takes `slot` for `owner` unless another holds it; true when `owner` holds it now. */
async function take(dir: string, slot: number, owner: string): Promise<boolean> {
  const file = join(dir, String(slot));
  try {
    await writeFile(file, owner, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const holder = await readFile(file, 'utf8').catch(() => '');
  if (holder === owner) return true;
  // A claim left by a sandbox that is gone (a crash between claim and destroy) is free again.
  const age = Date.now() - ((await stat(file).catch(() => undefined))?.mtimeMs ?? Date.now());
  if (holder && !existsSync(holder) && age > YOUNG_CLAIM_MS) {
    await rm(file, { force: true });
    return take(dir, slot, owner);
  }
  return false;
}

/** The first host id of a range for `owner`: `hostId` again when given (a restart), else a free one. */
export async function claimIdRange(dir: string, owner: string, hostId?: number): Promise<number> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (hostId !== undefined && (await take(dir, slotOf(hostId), owner))) return hostId;
  const taken = new Set(await readdir(dir));
  for (let slot = 0; slot < SLOTS; slot++) {
    if (!taken.has(String(slot)) && (await take(dir, slot, owner))) return hostIdOf(slot);
  }
  for (let slot = 0; slot < SLOTS; slot++) if (await take(dir, slot, owner)) return hostIdOf(slot);
  throw new NearbyError('ID_RANGES_EXHAUSTED', `no free range of host user ids is left in ${dir}`, {
    status: 503,
    hint: 'destroy machines on this host, or remove claims of data dirs that are gone',
  });
}

export async function releaseIdRange(dir: string, owner: string, hostId: number): Promise<void> {
  const file = join(dir, String(slotOf(hostId)));
  if ((await readFile(file, 'utf8').catch(() => '')) === owner) await rm(file, { force: true });
}
