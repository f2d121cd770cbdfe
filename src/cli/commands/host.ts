/** `nearby host clean`: remove every machine, mount, namespace and bridge a data dir made on this host. */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { meshInterfaceOf } from '../../agent/mesh-start.ts';
import { createHostRuntime } from '../../agent/runtime/mod.ts';
import { NearbyError } from '../../errors.ts';
import { createHostNetwork } from '../../net/mod.ts';
import { deleteMeshInterface } from '../../net/wireguard.ts';
import { proxyPaths, stopDataDirHaproxy } from '../../proxy/mod.ts';
import { createLogger } from '../../server/log.ts';
import { type ServerSettings, settingsFile } from '../../server/settings.ts';
import { cleanVolumes } from '../../volumes/mod.ts';
import { defaultDataDir } from '../client.ts';
import type { Command } from '../command.ts';

const clean: Command = {
  name: 'host clean',
  summary:
    'stop the edge proxy, destroy every machine of a data dir and remove its network (stop the server first)',
  help: `Usage: nearby host clean [--data-dir DIR] [--purge]

Stops the edge proxy (HAProxy keeps serving after the server stops), kills and removes every
sandbox the server with this data dir made, its overlay mounts, volume mounts and loop devices,
network namespaces, bridge, NAT and isolation rules. --purge also deletes the data dir (state,
images, token).`,
  options: { 'data-dir': { type: 'string' }, purge: { type: 'boolean' } },
  async run({ values, out }) {
    const dataDir = (values['data-dir'] as string | undefined) ?? defaultDataDir();
    const text = await readFile(settingsFile(dataDir), 'utf8').catch(() => undefined);
    if (!text) {
      throw new NearbyError('NOT_A_DATA_DIR', `${dataDir} has no server.json: no nearby server ran with it`, {
        hint: 'pass the --data-dir the server used',
      });
    }
    const settings = JSON.parse(text) as ServerSettings;
    const log = createLogger('text', 'warn');
    const runtime = await createHostRuntime(settings.runtime, {
      stateDir: join(dataDir, 'runtime'),
      logger: log,
    });
    // First the edge proxy, which outlives the server (apps answer until it is gone).
    const haproxy = await stopDataDirHaproxy(proxyPaths(dataDir));
    if (haproxy !== undefined) out(`Stopped the edge proxy (HAProxy ${haproxy})`);
    const ids = await runtime.list();
    for (const id of ids) await runtime.destroy(id);
    // After the machines: a volume's mount and loop device go once nothing uses them.
    const volumes = await cleanVolumes(dataDir);
    if (volumes > 0)
      out(`Unmounted ${volumes} volume${volumes === 1 ? '' : 's'} (their files stay unless --purge)`);
    // Only an agent has a bridge and subnets (a data dir of `nearby api` or `nearby proxy` has none).
    if (settings.ipv4Cidr !== undefined && settings.ipv6Cidr !== undefined) {
      await createHostNetwork({
        bridge: settings.bridge,
        ipv4Cidr: settings.ipv4Cidr,
        ipv6Cidr: settings.ipv6Cidr,
        netnsPrefix: `${settings.bridge}-`,
      }).teardown();
      out(
        `Removed ${ids.length} machine sandbox${ids.length === 1 ? '' : 'es'} and bridge ${settings.bridge}`,
      );
    }
    if (settings.meshListen) {
      const name = meshInterfaceOf(settings.dataDir ?? dataDir);
      await deleteMeshInterface({ name });
      out(`Removed mesh interface ${name}`);
    }
    if (values.purge) {
      await rm(dataDir, { recursive: true, force: true });
      out(`Deleted ${dataDir}`);
    }
    return 0;
  },
};

export const host: Command = {
  name: 'host',
  summary: 'administer this host',
  help: 'Usage: nearby host clean [--data-dir DIR] [--purge]',
  subcommands: [clean],
};
