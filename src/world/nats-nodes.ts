/**
 * The world's NATS: a node in the first host of each of the first three regions (one JetStream
 * cluster; one region gets a single node with no cluster block), ready once they agree on a
 * JetStream meta leader.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderNatsServerConfig } from '../store/nats/server-config.ts';
import { ports } from './plan.ts';
import { startDetached } from './processes.ts';
import { saveState, type WorldState } from './state.ts';
import { waitFor } from './wait-ready.ts';

/** Starts the nodes and returns their client URLs. */
export async function startNats(state: WorldState): Promise<string[]> {
  const { plan, dir } = state;
  for (const [index, host] of plan.natsHosts.entries()) {
    // A ring: each node dials the one before it, so each pair of three has one dialer. When two
    // nodes dial each other at once each drops one connection as a duplicate; across 200 ms both
    // drops hit both connections, and with a retry a second on both sides the route between iad
    // and syd never settled (nats-server 2.9.10 logged "Duplicate Route" every second and
    // JetStream could not create a bucket). Two nodes must still dial each other (a JetStream
    // cluster refuses a node without a route), which settles at the distances seen so far.
    const before = plan.natsHosts[(index + plan.natsHosts.length - 1) % plan.natsHosts.length];
    const routes = [`${before.address}:${ports.natsCluster}`];
    const config = join(dir, 'nats', `${host.region}.conf`);
    mkdirSync(join(dir, 'nats'), { recursive: true });
    const text = renderNatsServerConfig({
      name: host.region,
      listen: `${host.address}:${ports.nats}`,
      clusterListen: `${host.address}:${ports.natsCluster}`,
      routes,
      storeDir: join(dir, 'nats', host.region),
      clusterName: `nearby-world-${plan.options.name}`,
      monitorListen: `${host.address}:${ports.natsMonitor}`,
      maxMemoryStore: '64MB',
      maxFileStore: '1GB',
    });
    // One node is no cluster: nats-server refuses a JetStream cluster with no route to another node.
    writeFileSync(config, plan.natsHosts.length === 1 ? text.slice(0, text.indexOf('cluster {')) : text);
    state.processes.push(
      startDetached(`nats ${host.region}`, 'nats-server', ['-c', config], {
        netns: host.netns,
        logFile: join(dir, 'logs', `nats-${host.region}.log`),
        cwd: dir,
      }),
    );
    saveState(state);
  }
  // Ready when every node agrees on one JetStream meta leader.
  await waitFor(
    'the NATS cluster',
    async () => {
      if (plan.natsHosts.length === 1)
        return (await fetch(`http://${plan.natsHosts[0].address}:${ports.natsMonitor}/healthz`)).ok;
      const leaders = new Set<string>();
      for (const host of plan.natsHosts) {
        const response = await fetch(`http://${host.address}:${ports.natsMonitor}/jsz`);
        const jsz = (await response.json()) as { meta_cluster?: { leader?: string } };
        if (!jsz.meta_cluster?.leader) return false;
        leaders.add(jsz.meta_cluster.leader);
      }
      return leaders.size === 1;
    },
    join(dir, 'logs', `nats-${plan.natsHosts[0].region}.log`),
    state.processes.filter((process) => process.role.startsWith('nats ')),
  );
  return plan.natsHosts.map((host) => `nats://${host.address}:${ports.nats}`);
}
