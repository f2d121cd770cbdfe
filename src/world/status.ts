/**
 * What `nearby world status` shows: the regions, hosts, clients and every link between cities with
 * the matrix's RTT beside the measured one (ping's minimum, and a TCP connect to a host's proxy).
 */
import { runCommand } from '../run-command.ts';
import type { RttMatrix } from './matrix.ts';
import type { PlannedNamespace } from './plan.ts';
import { isRunning } from './processes.ts';
import type { WorldState } from './state.ts';

export interface LinkStatus {
  from: string;
  to: string;
  matrix_rtt_ms: number;
  source: string;
  ping_min_ms?: number;
  ping_avg_ms?: number;
  tcp_connect_ms?: number;
}

/**
 * Min and average of `count` pings from `netns` to `address`. `-U`: user-to-user times, since a
 * reply's kernel timestamp is taken before the world holds it on the way in (links.ts).
 */
export async function pingRtt(netns: string, address: string, count = 5) {
  const result = await runCommand(
    'ip',
    ['netns', 'exec', netns, 'ping', '-U', '-n', '-q', '-c', String(count), '-i', '0.2', '-W', '3', address],
    { timeoutMs: 30_000 },
  );
  const match = /= ([\d.]+)\/([\d.]+)\//.exec(result.stdout);
  return match ? { min: Number(match[1]), avg: Number(match[2]) } : undefined;
}

/**
 * curl's time_connect (ms) from `netns` to `address:80` (a host's proxy), the least of `samples`:
 * curl times the handshake from userspace, so a busy CPU that delays curl itself inflates a
 * sample (ping's timestamps come from the kernel and do not suffer this).
 */
export async function tcpConnectRtt(netns: string, address: string, samples = 3) {
  let best: number | undefined;
  for (let sample = 0; sample < samples; sample++) {
    const result = await runCommand(
      'ip',
      [
        ...['netns', 'exec', netns, 'curl', '-s', '-o', '/dev/null', '--max-time', '10'],
        ...['-w', '%{time_connect}', `http://${address}/`],
      ],
      { timeoutMs: 30_000 },
    );
    const seconds = Number(result.stdout.trim());
    if (seconds > 0) best = Math.min(best ?? Number.POSITIVE_INFINITY, Math.round(seconds * 100_000) / 100);
  }
  return best;
}

export async function measureLinks(state: WorldState, matrix: RttMatrix): Promise<LinkStatus[]> {
  const { plan } = state;
  const spaces: PlannedNamespace[] = [...plan.hosts, ...plan.clients];
  const first = (city: string) => spaces.find((space) => space.city === city) as PlannedNamespace;
  const hostOf = (city: string) => plan.hosts.find((host) => host.city === city);
  const pairs: [string, string][] = [];
  for (const [index, a] of plan.cities.entries())
    for (const b of plan.cities.slice(index + 1)) pairs.push([a, b]);
  return Promise.all(
    pairs.map(async ([a, b]) => {
      const { ms, source } = matrix.rtt(a, b);
      const ping = await pingRtt(first(a).netns, first(b).address);
      // TCP to a proxy: from the city without a host to the one with (either way is one link).
      const [from, to] = hostOf(b) ? [a, b] : [b, a];
      const target = hostOf(to);
      const tcp = target ? await tcpConnectRtt(first(from).netns, target.address) : undefined;
      return {
        from: a,
        to: b,
        matrix_rtt_ms: ms,
        source,
        ping_min_ms: ping?.min,
        ping_avg_ms: ping?.avg,
        tcp_connect_ms: tcp,
      };
    }),
  );
}

export function statusJson(state: WorldState, links: LinkStatus[] | undefined) {
  const { plan } = state;
  return {
    dir: state.dir,
    ready: state.ready,
    api_url: state.apiUrl,
    token: state.token,
    registry: state.registry,
    apps_domain: plan.options.appsDomain,
    dns: state.dnsAddress,
    regions: [...new Set(plan.hosts.map((host) => host.region))],
    hosts: plan.hosts.map((host) => ({
      name: host.hostName,
      region: host.region,
      address: host.address,
      netns: host.netns,
      edge_url: `http://${host.address}/`,
    })),
    clients: plan.clients.map((client) => ({
      city: client.city,
      address: client.address,
      netns: client.netns,
    })),
    processes: state.processes.map((process) => ({
      role: process.role,
      pid: process.pid,
      running: isRunning(process),
    })),
    links,
  };
}
