/**
 * The default seccomp profile: the allowlist that Docker and Podman ship (read from the host's
 * containers-common `seccomp.json`), reduced to this architecture and our capability set, in OCI form.
 */
import { readFile } from 'node:fs/promises';
import { arch, release } from 'node:os';

export const DEFAULT_SECCOMP_PATH = '/usr/share/containers/seccomp.json';

interface ProfileRule {
  names: string[];
  action: string;
  args?: object[] | null;
  errnoRet?: number;
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[] };
}

interface Profile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: { architecture: string; subArchitectures: string[] }[];
  syscalls: ProfileRule[];
}

/** Node's arch names to the profile's (Go) names and libseccomp's main architecture. */
const ARCHES: Record<string, { go: string; seccomp: string }> = {
  x64: { go: 'amd64', seccomp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', seccomp: 'SCMP_ARCH_AARCH64' },
};

/** Without CAP_SYS_ADMIN, Docker lets clone() make no namespaces (CLONE_NEWUSER included) and makes
 *  clone3() fail with ENOSYS so that libcs fall back to clone(), whose flags a filter can read. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const ENOSYS = 38;
const EPERM = 1;

/** Syscalls Docker allows only with CAP_SYS_ADMIN; containers-common allows some of them to all. */
const SYS_ADMIN_ONLY = [
  'fsconfig',
  'fsmount',
  'fsopen',
  'fspick',
  'mount',
  'mount_setattr',
  'move_mount',
  'name_to_handle_at',
  'open_tree',
  'quotactl_fd',
  'setns',
  'syslog',
  'umount',
  'umount2',
  'unshare',
];

/** The kernel keyring is not namespaced: Docker's profile refuses it to every container, while
 *  containers-common's allows `keyctl` (tenants could fill or probe the host's keys). */
const KEYRING = ['add_key', 'keyctl', 'request_key'];

function kernelAtLeast(version: string): boolean {
  const [major = 0, minor = 0] = release()
    .split('.')
    .map((part) => Number.parseInt(part, 10));
  const [wantMajor = 0, wantMinor = 0] = version.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

function applies(rule: ProfileRule, goArch: string, caps: Set<string>): boolean {
  const { includes = {}, excludes = {} } = rule;
  if (includes.arches?.length && !includes.arches.includes(goArch)) return false;
  if (excludes.arches?.includes(goArch)) return false;
  if (includes.caps?.some((cap) => !caps.has(cap))) return false;
  if (excludes.caps?.some((cap) => caps.has(cap))) return false;
  if (includes.minKernel && !kernelAtLeast(includes.minKernel)) return false;
  return true;
}

/** The OCI `linux.seccomp` object for a process holding `capabilities`, or undefined when the
 *  profile is missing or this architecture is not one we filter. */
export async function defaultSeccomp(
  capabilities: string[],
  path = DEFAULT_SECCOMP_PATH,
): Promise<object | undefined> {
  const target = ARCHES[arch()];
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (!target || text === undefined) return undefined;
  const profile = JSON.parse(text) as Profile;
  const caps = new Set(capabilities);
  const restrictClone = !caps.has('CAP_SYS_ADMIN');
  const withheld = new Set([...KEYRING, ...(restrictClone ? ['clone', 'clone3', ...SYS_ADMIN_ONLY] : [])]);
  const syscalls = profile.syscalls
    .filter((rule) => applies(rule, target.go, caps))
    .map((rule) => ({
      names: rule.action === 'SCMP_ACT_ALLOW' ? rule.names.filter((n) => !withheld.has(n)) : rule.names,
      action: rule.action,
      ...(rule.args?.length ? { args: rule.args } : {}),
      ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}),
    }))
    .filter((rule) => rule.names.length > 0);
  if (restrictClone) {
    syscalls.push(
      {
        names: ['clone'],
        action: 'SCMP_ACT_ALLOW',
        args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
      },
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      { names: SYS_ADMIN_ONLY, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    );
  }
  syscalls.push({ names: KEYRING, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM });
  const sub = profile.archMap?.find((entry) => entry.architecture === target.seccomp)?.subArchitectures ?? [];
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    architectures: [target.seccomp, ...sub],
    syscalls,
  };
}
