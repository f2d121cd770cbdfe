/**
 * The tables the world gives `nearby dns serve`, as an operator would write them: each city's /24
 * to its city, each region to its hosts' edges — or every region to the Anycast address with
 * `--reach anycast` (then BGP, not the DNS, picks the region).
 */
import type { WorldPlan } from './plan.ts';

export function worldDnsTables(plan: WorldPlan): { networks: string; regions: string } {
  const prefix = plan.network.replace(/\.0\.0\/16$/, '');
  const networks = plan.cities.map((city, index) => `${prefix}.${index + 1}.0/24 ${city}`);
  const regions = [...new Set(plan.hosts.map((host) => host.region))].map((region) => {
    const edges = plan.anycast
      ? [plan.anycast.address]
      : plan.hosts.filter((host) => host.region === region).map((host) => host.address);
    return `${region} ${edges.join(' ')}`;
  });
  const header = '# written by nearby world up';
  return { networks: `${header}\n${networks.join('\n')}\n`, regions: `${header}\n${regions.join('\n')}\n` };
}
