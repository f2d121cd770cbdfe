/**
 * Merges an image's config with a machine's config into the process a sandbox runs, the way Docker
 * and the Machines API do: what runs, with which environment, where, and as whom.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NearbyError } from '../errors.ts';
import type { MachineConfig } from '../model/machine.ts';
import type { ImageConfig } from '../oci/types.ts';
import type { ProcessSpec } from './runtime/types.ts';

/** The command: `init.exec` replaces everything; an overridden entrypoint drops the image's CMD. */
function commandOf(image: ImageConfig, machine: MachineConfig): string[] {
  // `processes[0]` overrides init, as in the Machines API (one main process per machine here).
  const init = { ...machine.init, ...definedOnly(machine.processes?.[0] ?? {}) };
  if (init.exec && init.exec.length > 0) return [...init.exec];
  const entrypoint = init.entrypoint ?? image.Entrypoint ?? [];
  const cmd = init.cmd ?? (init.entrypoint ? [] : (image.Cmd ?? []));
  return [...entrypoint, ...cmd];
}

function definedOnly(process: NonNullable<MachineConfig['processes']>[number]) {
  const { exec, entrypoint, cmd } = process;
  return Object.fromEntries(Object.entries({ exec, entrypoint, cmd }).filter(([, v]) => v !== undefined));
}

/** Env as `KEY=value`, later sources winning, in the order keys first appeared. */
function mergeEnv(...sources: Record<string, string>[]): string[] {
  const merged = new Map<string, string>();
  for (const source of sources) {
    for (const [key, value] of Object.entries(source)) merged.set(key, value);
  }
  return [...merged].map(([key, value]) => `${key}=${value}`);
}

function envRecord(env: string[] | null | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const entry of env ?? []) {
    const eq = entry.indexOf('=');
    if (eq > 0) record[entry.slice(0, eq)] = entry.slice(eq + 1);
    else if (eq < 0) record[entry] = '';
  }
  return record;
}

interface DbEntry {
  name: string;
  id: number;
  gid: number;
  members: string[];
  home?: string;
}

/** Reads `/etc/passwd` or `/etc/group` of the image; a missing file is an empty database. */
function readDb(rootfs: string, file: 'passwd' | 'group'): DbEntry[] {
  let text = '';
  try {
    text = readFileSync(join(rootfs, 'etc', file), 'utf8');
  } catch {}
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const fields = line.split(':');
      return file === 'passwd'
        ? { name: fields[0], id: Number(fields[2]), gid: Number(fields[3]), members: [], home: fields[5] }
        : {
            name: fields[0],
            id: Number(fields[2]),
            gid: Number(fields[2]),
            members: (fields[3] ?? '').split(','),
          };
    });
}

const NUMERIC = /^\d+$/;

function userError(message: string): NearbyError {
  return new NearbyError('IMAGE_USER_INVALID', message, {
    status: 422,
    hint: "Fix the image's USER (or add the user to its /etc/passwd), or run the image as a numeric uid:gid.",
  });
}

type ResolvedUser = ProcessSpec['user'] & { home: string };

function resolveUser(rootfs: string, spec: string | undefined): ResolvedUser {
  if (!spec) spec = '0';
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  const passwd = readDb(rootfs, 'passwd');
  const groups = readDb(rootfs, 'group');
  let uid: number;
  let gid: number;
  let name: string | undefined;
  let home = '/';
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    const entry = passwd.find((p) => p.id === uid);
    gid = entry?.gid ?? 0; // Docker runs an unknown numeric uid with gid 0
    name = entry?.name;
    home = entry?.home || (uid === 0 ? '/root' : '/');
  } else {
    const entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw userError(`image user '${userPart}' is not in /etc/passwd of the image`);
    uid = entry.id;
    gid = entry.gid;
    name = entry.name;
    home = entry.home || '/';
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const group = groups.find((g) => g.name === groupPart);
      if (!group) throw userError(`image group '${groupPart}' is not in /etc/group of the image`);
      gid = group.id;
    }
  }
  // Supplementary groups come from /etc/group membership, as login(1) and Docker do.
  const additionalGids =
    name === undefined
      ? []
      : [...new Set(groups.filter((g) => g.members.includes(name) && g.id !== gid).map((g) => g.id))];
  return { uid, gid, additionalGids, home };
}

export function processSpec(
  image: ImageConfig,
  machine: MachineConfig,
  rootfs: string,
  extraEnv: Record<string, string>,
  secretEnv: Record<string, string> = {},
): ProcessSpec {
  const args = commandOf(image, machine);
  if (args.length === 0) {
    throw new NearbyError(
      'MACHINE_COMMAND_EMPTY',
      `image '${machine.image}' has no ENTRYPOINT or CMD to run`,
      {
        status: 422,
        hint: 'Set init.cmd (or init.exec / init.entrypoint) in the machine config, or CMD in the Dockerfile.',
      },
    );
  }
  const main = machine.processes?.[0];
  const { home, ...user } = resolveUser(rootfs, main?.user ?? image.User);
  // Like Docker: PATH and HOME are always set, unless something more specific sets them.
  const defaults = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: home };
  return {
    args,
    // App secrets win over config env, as on Fly.
    env: mergeEnv(defaults, envRecord(image.Env), extraEnv, machine.env ?? {}, main?.env ?? {}, secretEnv),
    cwd: image.WorkingDir || '/',
    user,
    ...(machine.init?.tty ? { tty: true } : {}),
  };
}
