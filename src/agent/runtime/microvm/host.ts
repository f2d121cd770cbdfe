/**
 * What a microVM needs from the host: QEMU, the guest kernel assets (scripts/microvm-assets.sh),
 * an accelerator (KVM when it can boot a stock guest, else TCG, with the reason), and the clock
 * figures the guest kernel must be given under `-M microvm` or it may hang calibrating.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { microvmUnavailable } from './errors.ts';

export const DEFAULT_ASSETS_DIR = '/var/cache/nearby/microvm';
export const QEMU_BIN = 'qemu-system-x86_64';

export interface GuestAssets {
  kernel: string;
  /** Module paths inside the initramfs, in load order, and where each is on the host. */
  modules: { guestPath: string; hostPath: string }[];
  release: string;
}

export function guestAssets(dir: string): GuestAssets {
  const kernel = join(dir, 'vmlinuz');
  const order = join(dir, 'modules.order');
  if (!existsSync(kernel) || !existsSync(order)) {
    throw microvmUnavailable(
      `the microVM guest kernel is missing from ${dir}`,
      `Run scripts/microvm-assets.sh ${dir} (it downloads linux-image-cloud-amd64 without installing it).`,
    );
  }
  const modules = readFileSync(order, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((guestPath) => ({ guestPath, hostPath: join(dir, 'modules', guestPath.split('/').pop() ?? '') }));
  const release = readFileSync(join(dir, 'release'), 'utf8').trim();
  return { kernel, modules, release };
}

export interface Accelerator {
  accel: 'kvm' | 'tcg';
  reason: string;
}

/** KVM only when it can run a stock guest. This host's /dev/kvm is a nested "PVM" (kvm_pvm), on
 *  which a stock kernel had not reached init after 7 minutes: that signature means TCG. */
export function pickAccelerator(forced?: string): Accelerator {
  if (forced === 'kvm' || forced === 'tcg')
    return { accel: forced, reason: 'chosen with NEARBY_MICROVM_ACCEL' };
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', reason: 'no /dev/kvm on this host' };
  if (existsSync('/sys/module/kvm_pvm')) {
    return {
      accel: 'tcg',
      reason: '/dev/kvm is PVM (kvm_pvm), which cannot boot a stock guest kernel in useful time',
    };
  }
  return { accel: 'kvm', reason: '/dev/kvm is usable' };
}

/** `tsc_early_khz` and `lpj` from the host's own figures (the guest runs on the same clock). */
export function clockArgs(cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')): string[] {
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1]);
  const bogomips = Number(/^bogomips\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1]);
  const args: string[] = [];
  if (mhz > 0) args.push(`tsc_early_khz=${Math.round(mhz * 1000)}`);
  // BogoMIPS = lpj * HZ / 500000, and Debian's kernels run at HZ=250.
  if (bogomips > 0) args.push(`lpj=${Math.round((bogomips * 500_000) / 250)}`);
  return args;
}
