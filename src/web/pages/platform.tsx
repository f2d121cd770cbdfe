/**
 * The operator's view (admin token): regions on the map with their hosts' capacity and health, the
 * round-trip times the edge proxies measured between regions, and every host.
 */
import type { HostView, LinkView, RegionView } from '../types.ts';
import { useFetch } from '../use-fetch.ts';
import { type Line, type Marker, WorldMap } from '../world-map.tsx';
import { ago, Failure, Loading } from './parts.tsx';

const used = (r: {
  used: { memory_mb: number; cpus: number };
  capacity: { memory_mb: number; cpus: number };
}) => `${r.used.memory_mb}/${r.capacity.memory_mb} MB, ${r.used.cpus}/${r.capacity.cpus} CPUs`;

/** One line per pair of regions, with the smallest RTT measured between their proxies. */
function regionLinks(links: LinkView[]): Line[] {
  const best = new Map<string, LinkView>();
  for (const link of links) {
    if (link.from_region === link.to_region) continue;
    const key = [link.from_region, link.to_region].sort().join('-');
    if (!best.has(key) || (best.get(key)?.rtt_ms ?? Infinity) > link.rtt_ms) best.set(key, link);
  }
  return [...best.values()].map((l) => ({
    from: l.from_region,
    to: l.to_region,
    title: `${l.from_region} ↔ ${l.to_region}: ${l.rtt_ms} ms`,
    label: `${Math.round(l.rtt_ms)} ms`,
  }));
}

export function Platform() {
  const regions = useFetch<{ regions: RegionView[] }>('/v1/platform/regions', 10_000);
  const hosts = useFetch<{ hosts: HostView[] }>('/v1/platform/hosts', 10_000);
  const links = useFetch<{ links: LinkView[] }>('/v1/platform/links', 30_000);
  const error = regions.error ?? hosts.error;
  if (error) return <Failure error={error} />;
  if (!regions.data || !hosts.data) return <Loading />;
  const markers: Marker[] = regions.data.regions.map((r) => ({
    region: r.name,
    label: `${r.hosts_up}/${r.hosts} hosts`,
    title: `${r.name}: ${r.hosts_up} of ${r.hosts} hosts up; ${r.started}/${r.machines} machines started; ${used(r)}`,
    tone: r.hosts_up === r.hosts ? 'ok' : r.hosts_up > 0 ? 'warn' : 'bad',
  }));
  const measured = links.data?.links ?? [];
  return (
    <main>
      <h1>Platform</h1>
      <WorldMap markers={markers} lines={regionLinks(measured)} />
      <h2>Regions</h2>
      <table>
        <thead>
          <tr>
            <th>Region</th>
            <th>Hosts up</th>
            <th>Used / capacity</th>
            <th>Machines started</th>
          </tr>
        </thead>
        <tbody>
          {regions.data.regions.map((r) => (
            <tr key={r.name}>
              <td>{r.name}</td>
              <td>
                {r.hosts_up}/{r.hosts}
              </td>
              <td>{used(r)}</td>
              <td>
                {r.started}/{r.machines}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Hosts</h2>
      <table>
        <thead>
          <tr>
            <th>Host</th>
            <th>Region</th>
            <th>Health</th>
            <th>Address</th>
            <th>Used / capacity</th>
            <th>Machines</th>
            <th>Heartbeat</th>
            <th>Version</th>
          </tr>
        </thead>
        <tbody>
          {hosts.data.hosts.map((h) => (
            <tr key={h.name}>
              <td>{h.name}</td>
              <td>{h.region}</td>
              <td>
                <span class={`state ${h.status === 'up' ? 'ok' : 'bad'}`}>{h.status}</span>
              </td>
              <td>{h.address}</td>
              <td>{used(h)}</td>
              <td>
                {h.started}/{h.machines}
              </td>
              <td>{ago(h.heartbeat_at)}</td>
              <td>{h.version}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Links</h2>
      {measured.length === 0 ? (
        <p class="empty">No round trips measured: the edge proxies publish them when there are several.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>From</th>
              <th>To</th>
              <th>RTT</th>
            </tr>
          </thead>
          <tbody>
            {measured.map((l) => (
              <tr key={`${l.from_host}-${l.to_host}`}>
                <td>
                  {l.from_region} <span class="muted">{l.from_host}</span>
                </td>
                <td>
                  {l.to_region} <span class="muted">{l.to_host}</span>
                </td>
                <td>{l.rtt_ms} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
