/**
 * The microVM driver's public face: `createMicroVmRuntime` checks the host can run microVMs (QEMU,
 * the guest kernel assets, our init built), picks the accelerator and says which and why.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../../run-command.ts';
import { MicroVmDriver } from './driver.ts';
import { microvmUnavailable } from './errors.ts';
import { clockArgs, DEFAULT_ASSETS_DIR, guestAssets, pickAccelerator, QEMU_BIN } from './host.ts';

export { MicroVmDriver } from './driver.ts';
export { type Accelerator, DEFAULT_ASSETS_DIR, pickAccelerator } from './host.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const INIT_PATH = join(repoRoot, 'native', 'build', 'init', 'init');
const INIT_SOURCE = join(repoRoot, 'native', 'init', 'init.c');

export interface MicroVmOptions {
  stateDir: string;
  shimPath: string;
  /** Kernel and modules (default $NEARBY_MICROVM_ASSETS or /var/cache/nearby/microvm). */
  assetsDir?: string;
  /** `kvm` or `tcg` to skip detection (default $NEARBY_MICROVM_ACCEL). */
  accel?: string;
  logger?: { info(message: string): void };
}

async function works(bin: string, args: string[]): Promise<boolean> {
  try {
    return (await runCommand(bin, args, { timeoutMs: 10_000 })).code === 0;
  } catch {
    return false;
  }
}

/** What is missing for microVMs on this host, or undefined when nothing is (tests skip on it). */
export async function microvmMissing(assetsDir = defaultAssetsDir()): Promise<string | undefined> {
  if (!(await works(QEMU_BIN, ['--version'])))
    return `${QEMU_BIN} is not installed (Debian: qemu-system-x86)`;
  if (!(await works('qemu-img', ['--version']))) return 'qemu-img is not installed (Debian: qemu-utils)';
  if (!existsSync(join(assetsDir, 'vmlinuz'))) {
    return `no guest kernel in ${assetsDir} (run scripts/microvm-assets.sh)`;
  }
  return undefined;
}

export function defaultAssetsDir(): string {
  return process.env.NEARBY_MICROVM_ASSETS ?? DEFAULT_ASSETS_DIR;
}

async function ensureInitBuilt(): Promise<void> {
  if (existsSync(INIT_PATH) && statSync(INIT_PATH).mtimeMs >= statSync(INIT_SOURCE).mtimeMs) return;
  const result = await runCommand(join(repoRoot, 'scripts', 'build-native.sh'), [], { timeoutMs: 180_000 });
  if (result.code !== 0 || !existsSync(INIT_PATH)) {
    throw microvmUnavailable(
      `building the guest init failed: ${result.stderr.trim()}`,
      'Install gcc and libc6-dev (static glibc), then run scripts/build-native.sh.',
    );
  }
}

/** Fetches the guest kernel on first use, as the shim is built on first use. */
async function ensureAssets(assetsDir: string, logger: MicroVmOptions['logger']): Promise<void> {
  if (existsSync(join(assetsDir, 'vmlinuz'))) return;
  logger?.info(`fetching the microVM guest kernel into ${assetsDir} (scripts/microvm-assets.sh)`);
  const script = join(repoRoot, 'scripts', 'microvm-assets.sh');
  const result = await runCommand(script, [assetsDir], { timeoutMs: 600_000 });
  if (result.code !== 0) {
    throw microvmUnavailable(
      `fetching the guest kernel failed: ${result.stderr.trim() || result.stdout.trim()}`,
      `Check that apt can reach the Debian mirrors, then run ${script} ${assetsDir}.`,
    );
  }
}

export async function createMicroVmRuntime(options: MicroVmOptions): Promise<MicroVmDriver> {
  const assetsDir = options.assetsDir ?? defaultAssetsDir();
  if ((await works(QEMU_BIN, ['--version'])) && (await works('qemu-img', ['--version']))) {
    await ensureAssets(assetsDir, options.logger);
  }
  const missing = await microvmMissing(assetsDir);
  if (missing) {
    throw microvmUnavailable(
      `microVMs cannot run here: ${missing}`,
      'Run scripts/setup.sh (it installs QEMU) and scripts/microvm-assets.sh (the guest kernel).',
    );
  }
  await ensureInitBuilt();
  if (!existsSync(options.shimPath)) {
    throw microvmUnavailable(`the shim is missing at ${options.shimPath}`, 'Run scripts/build-native.sh.');
  }
  const accelerator = pickAccelerator(options.accel ?? process.env.NEARBY_MICROVM_ACCEL);
  options.logger?.info(`microVMs run under ${accelerator.accel.toUpperCase()}: ${accelerator.reason}`);
  if (await works('firecracker', ['--version'])) {
    options.logger?.info(
      'a firecracker binary is on PATH, but this driver runs QEMU microvm (Firecracker is not supported yet)',
    );
  }
  return new MicroVmDriver({
    stateDir: options.stateDir,
    shimPath: options.shimPath,
    initPath: INIT_PATH,
    assets: guestAssets(assetsDir),
    accelerator,
    kernelArgs: clockArgs(),
  });
}
