/**
 * The app's traffic by route (entry region → serving region) from the live stream's `traffic`
 * event: a table (rate, in flight, the latency users got, the RTT paid), and lines on the map
 * from where requests entered to where they were served.
 */
import type { TrafficRoute } from '../types.ts';
import type { Line } from '../world-map.tsx';

const rate = (rps: number) => `${rps < 10 ? rps.toFixed(1) : Math.round(rps)}/s`;
const ms = (value: number) => `${value < 10 ? value.toFixed(1) : Math.round(value)} ms`;

/** `p50 / p95`, as users got them through the entry proxy; a dash when none was measured. */
export function latency(route: TrafficRoute): string {
  return route.p50_ms === undefined || route.p95_ms === undefined
    ? '—'
    : `${ms(route.p50_ms)} / ${ms(route.p95_ms)}`;
}

/** A line per route that leaves its region, labelled with its rate. */
export function trafficLines(routes: TrafficRoute[]): Line[] {
  return routes
    .filter((route) => route.entry !== route.served)
    .map((route) => ({
      from: route.entry,
      to: route.served,
      title: `${route.entry} → ${route.served}: ${rate(route.rps)}, ${route.in_flight} in flight, latency p50/p95 ${latency(route)}, ${route.rtt_ms} ms RTT`,
      label: rate(route.rps),
      kind: 'traffic',
    }));
}

export function Traffic({ routes }: { routes: TrafficRoute[] | undefined }) {
  return (
    <section>
      <h2>Traffic</h2>
      {!routes || routes.length === 0 ? (
        <p class="empty">No requests in the last few seconds (the edge proxies count every 2 s).</p>
      ) : (
        <table class="traffic">
          <thead>
            <tr>
              <th title="the region whose edge proxy the requests entered">Entered</th>
              <th title="the region of the machines that served them">Served in</th>
              <th>Requests/s</th>
              <th>In flight</th>
              <th title="time from the entry proxy routing a request to the machine's response head, median / 95th percentile over the proxies' last 2 s">
                Latency p50 / p95
              </th>
              <th title="the round trip beyond the edge to the serving region">RTT paid</th>
            </tr>
          </thead>
          <tbody>
            {routes.map((route) => (
              <tr key={`${route.entry}-${route.served}`} data-entry={route.entry} data-served={route.served}>
                <td>{route.entry}</td>
                <td>{route.served}</td>
                <td class="rps">{rate(route.rps)}</td>
                <td>{route.in_flight}</td>
                <td class="latency">{latency(route)}</td>
                <td>{route.entry === route.served ? '—' : `${route.rtt_ms} ms`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
