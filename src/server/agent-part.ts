/**
 * The host agent as a part: this host's machine subnets (given, or claimed in the store), its
 * runtime and network, and the agent that registers the host and runs its machines.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startMesh } from '../agent/mesh-start.ts';
import { startAgent } from '../agent/mod.ts';
import { createHostRuntime } from '../agent/runtime/mod.ts';
import { claimHostSubnets } from '../agent/subnets.ts';
import { createHostNetwork } from '../net/mod.ts';
import type { ImageStore } from '../oci/mod.ts';
import type { Store } from '../store/mod.ts';
import { type ServerSettings, settingsFile } from './settings.ts';

export interface RunningAgentPart {
  runtime: string;
  subnets: { ipv4Cidr: string; ipv6Cidr: string };
  stop(): Promise<void>;
}

export async function startAgentPart(options: {
  settings: ServerSettings;
  store: Store;
  images: ImageStore;
  /** Where secret values come from when the API (and its key) is not in this process. */
  secrets?: (app: string) => Promise<Record<string, string>>;
  log: Logger;
  signal: AbortSignal;
}): Promise<RunningAgentPart> {
  const { settings, store, log, signal } = options;
  const subnets =
    settings.ipv4Cidr !== undefined && settings.ipv6Cidr !== undefined
      ? { ipv4Cidr: settings.ipv4Cidr, ipv6Cidr: settings.ipv6Cidr }
      : {
          ...(await claimHostSubnets(store, settings.hostName, {
            ipv4: settings.machinePool,
            ipv6: settings.machinePool6,
          })),
          ...(settings.ipv4Cidr ? { ipv4Cidr: settings.ipv4Cidr } : {}),
          ...(settings.ipv6Cidr ? { ipv6Cidr: settings.ipv6Cidr } : {}),
        };
  // `nearby host clean` reads the subnets and bridge it must remove from here.
  await writeFile(
    settingsFile(settings.dataDir),
    `${JSON.stringify({ ...settings, ...subnets }, null, 2)}\n`,
  );
  const runtime = await createHostRuntime(settings.runtime, {
    stateDir: join(settings.dataDir, 'runtime'),
    ...(settings.rootDiskGb === undefined ? {} : { rootDiskGb: settings.rootDiskGb }),
    logger: log.child({ part: 'runtime' }),
  });
  const proxyPorts = [settings.proxyListen, settings.proxyTlsListen].map((listen) =>
    Number(listen.split(':').pop()),
  );
  // Off unless asked: one host has no other to reach, and machines cross hosts only by an
  // operator's choice (docs/network.md, "Between hosts").
  const mesh = settings.meshListen
    ? await startMesh({
        store,
        host: settings.hostName,
        dataDir: settings.dataDir,
        bridge: settings.bridge,
        listen: settings.meshListen,
        hostAddress: settings.address,
        signal,
        log: log.child({ part: 'mesh' }),
      })
    : undefined;
  const network = createHostNetwork({
    bridge: settings.bridge,
    ...subnets,
    netnsPrefix: `${settings.bridge}-`,
    // The edge proxy's public ports are the one door from machines into the host: an app calling
    // another app by its public name reaches it the same way from this host as from any other.
    hostTcpPorts: proxyPorts.filter((port) => Number.isInteger(port) && port > 0),
    ...(mesh ? { meshInterface: mesh.name } : {}),
  });
  const agent = await startAgent({
    store,
    host: settings.hostName,
    region: settings.region,
    dataDir: settings.dataDir,
    images: options.images,
    ...(options.secrets ? { secrets: options.secrets } : {}),
    runtime,
    network,
    ...(settings.consoleListen ? { consoleListen: settings.consoleListen } : {}),
    ...(settings.dns ? { dns: settings.dns } : {}),
    meterIntervalMs: settings.meterIntervalMs,
    hostRecord: {
      address: settings.address,
      ...(settings.maxMachines ? { max_machines: settings.maxMachines } : {}),
      ...(settings.memoryMb ? { memory_mb: settings.memoryMb } : {}),
      ...(settings.cpus ? { cpus: settings.cpus } : {}),
      subnet4: subnets.ipv4Cidr,
      subnet6: subnets.ipv6Cidr,
      ...mesh?.fields,
    },
    log: log.child({ part: 'agent' }),
    signal,
  });
  return {
    runtime: runtime.name,
    subnets,
    async stop() {
      await agent.done;
      await mesh?.done;
      await agent.reconciler.idle();
    },
  };
}
