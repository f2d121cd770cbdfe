/**
 * `[deploy] release_command`: runs once, before any machine changes, in a temporary machine of the
 * new image with the app's env and secrets. Its output is streamed; a non-zero exit or a timeout
 * stops the deploy, and the running release is left as it was.
 */

import type { DeployConfig } from '../../config/mod.ts';
import { splitShellWords } from '../../config/shell-words.ts';
import { NearbyError } from '../../errors.ts';
import type { MachineConfig } from '../../model/mod.ts';
import type { ApiCalls } from '../client.ts';
import { machinesApi } from '../machines-client.ts';
import { deployApi } from './api.ts';

/** Fly's default for `release_command_timeout`. */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;

export interface ReleaseCommandOptions {
  api: ApiCalls;
  app: string;
  out: (text: string) => void;
  /** The machine config of the app's default process group in the new release. */
  base: MachineConfig;
  deploy: DeployConfig;
  region?: string;
  signal?: AbortSignal;
}

export function releaseMachineConfig(base: MachineConfig, deploy: DeployConfig): MachineConfig {
  const command = deploy.release_command ?? '';
  const cmd = splitShellWords(command);
  if (!cmd || cmd.length === 0) {
    throw new NearbyError(
      'RELEASE_COMMAND_INVALID',
      `[deploy] release_command ${JSON.stringify(command)} is not a command`,
      {
        hint: 'write it as in a shell, e.g. release_command = "bin/migrate --all"',
      },
    );
  }
  // No services (it serves nothing) and no volumes (they belong to the app's machines), as on Fly.
  const { services: _services, checks: _checks, mounts: _mounts, ...rest } = base;
  const vm = deploy.release_command_vm;
  return {
    ...rest,
    init: { ...base.init, cmd },
    ...(vm ? { guest: { cpu_kind: vm.cpu_kind, cpus: vm.cpus, memory_mb: vm.memory_mb } } : {}),
    restart: { policy: 'no' },
    metadata: { ...base.metadata, fly_process_group: 'fly_app_release_command', fly_release_command: 'true' },
  };
}

export async function runReleaseCommand(options: ReleaseCommandOptions): Promise<void> {
  const { api, app, out, deploy } = options;
  const config = releaseMachineConfig(options.base, deploy);
  const timeoutMs = deploy.release_command_timeout ?? DEFAULT_TIMEOUT_MS;
  out(`==> Running release command: ${deploy.release_command}`);
  const machine = await machinesApi.create(api, app, { config, region: options.region });
  out(`  Machine ${machine.id} created for it in ${machine.region}`);
  const logs = new AbortController();
  const streaming = (async () => {
    try {
      for await (const line of deployApi.logs(
        api,
        app,
        machine.id,
        { follow: true, tail: 1000 },
        logs.signal,
      )) {
        out(`  | ${line.message}`);
      }
    } catch {}
  })();
  let exitCode: number | undefined;
  let why: string | undefined;
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) {
        why = `did not finish within ${Math.round(timeoutMs / 1000)}s ([deploy] release_command_timeout)`;
        break;
      }
      try {
        await deployApi.wait(
          api,
          app,
          machine.id,
          'stopped',
          Math.min(60, left),
          machine.instance_id,
          options.signal,
        );
      } catch (error) {
        if ((error as NearbyError).code === 'WAIT_TIMEOUT') continue;
        throw error;
      }
      const view = await machinesApi.get(api, app, machine.id);
      exitCode = view.nearby.exit?.exit_code;
      if (exitCode !== 0) why = view.nearby.error ?? `exited with code ${exitCode ?? 'unknown'}`;
      break;
    }
  } finally {
    // The last lines may still be on their way to the log stream.
    setTimeout(() => logs.abort(), 500).unref();
    await streaming;
    await machinesApi.destroy(api, app, machine.id, true).catch(() => {});
    // Gone before the rollout lists the app's machines (or the user does).
    await deployApi.wait(api, app, machine.id, 'destroyed', 30, machine.instance_id).catch(() => {});
  }
  if (why) {
    throw new NearbyError(
      'RELEASE_COMMAND_FAILED',
      `release command \`${deploy.release_command}\` ${why}; the deploy stopped before changing any machine`,
      { hint: `its output is above; the running release is unchanged (\`nearby releases -a ${app}\`)` },
    );
  }
  out(`  Release command succeeded`);
}
