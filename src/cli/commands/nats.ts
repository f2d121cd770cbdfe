/** `nearby nats config`: the configuration of one node of the NATS JetStream cluster nearby's store runs on. */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { renderNatsServerConfig } from '../../store/nats/server-config.ts';
import { type Command, usageError } from '../command.ts';

const config: Command = {
  name: 'nats config',
  summary: "print (or write) one nats-server node's configuration for nearby's store",
  help: `Usage: nearby nats config --name NAME --routes HOST:PORT,… [flags]

Prints the nats-server configuration of one node of the three (or five) that hold nearby's store
in a cluster: JetStream on, clients on --listen, the other nodes reached on their cluster ports.
Run it once per node with the same --routes and --token and its own --name; start each node with
\`nats-server -c FILE\`. nearby's parts then take --nats nats://TOKEN@HOST:4222,… (docs/cluster.md).

  --name NAME              this node's name, unique in the cluster (e.g. fra-1)
  --routes LIST            every node's cluster address, this one's included (HOST:6222,…)
  --listen HOST:PORT       where clients connect (default 0.0.0.0:4222)
  --cluster-listen H:P     where the other nodes connect (default 0.0.0.0:6222)
  --store-dir DIR          JetStream's data: the whole store (default /var/lib/nearby/nats)
  --token TOKEN            clients and routes must present it (recommended: openssl rand -hex 24)
  --monitor-listen H:P     the monitoring endpoint (off by default; keep it private)
  --out FILE               write the configuration there instead of printing it`,
  options: {
    name: { type: 'string' },
    routes: { type: 'string' },
    listen: { type: 'string' },
    'cluster-listen': { type: 'string' },
    'store-dir': { type: 'string' },
    token: { type: 'string' },
    'monitor-listen': { type: 'string' },
    out: { type: 'string' },
  },
  async run({ values, out }) {
    const name = values.name as string | undefined;
    const routes = values.routes as string | undefined;
    if (!name) throw usageError('--name is required (this node, unique in the cluster)', config);
    if (!routes) throw usageError("--routes is required (every node's cluster address, HOST:6222,…)", config);
    const text = renderNatsServerConfig({
      name,
      listen: (values.listen as string | undefined) ?? '0.0.0.0:4222',
      clusterListen: (values['cluster-listen'] as string | undefined) ?? '0.0.0.0:6222',
      routes: routes.split(',').filter((route) => route.trim() !== ''),
      storeDir: resolve((values['store-dir'] as string | undefined) ?? '/var/lib/nearby/nats'),
      monitorListen: values['monitor-listen'] as string | undefined,
      token: values.token as string | undefined,
    });
    const file = values.out as string | undefined;
    if (file === undefined) {
      out(text.trimEnd());
      return 0;
    }
    await writeFile(file, text, { mode: 0o600 });
    out(`Wrote ${resolve(file)}; start the node with: nats-server -c ${resolve(file)}`);
    return 0;
  },
};

export const nats: Command = {
  name: 'nats',
  summary: "the NATS JetStream cluster of nearby's store",
  help: 'Usage: nearby nats config --name NAME --routes HOST:PORT,… [--token TOKEN] [--out FILE]',
  subcommands: [config],
};
