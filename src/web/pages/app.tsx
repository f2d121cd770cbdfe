/**
 * One app: its machines on the world map by region and in a table (state, health, release, host)
 * with their actions, its traffic by route (also as arcs on the map), a timeline of wakes, stops
 * and autoscaling, scaling per region, its releases and a live log tail. Machines, traffic, app
 * events and logs come from the live stream (`/v1/apps/{app}/live`); the rest from the public API.
 */
import { useEffect, useMemo } from 'preact/hooks';
import { app as appPath } from '../api.ts';
import { useLiveApp } from '../live.ts';
import type { AppView, AutoscaleView, MachineView, ReleaseRecord } from '../types.ts';
import { useFetch } from '../use-fetch.ts';
import { type Marker, WorldMap } from '../world-map.tsx';
import { LogTail } from './logs.tsx';
import { Machines } from './machines.tsx';
import { ago, Failure, Loading, stateTone } from './parts.tsx';
import { Releases } from './releases.tsx';
import { Scale } from './scale.tsx';
import { Autoscale, Timeline } from './timeline.tsx';
import { Traffic, trafficLines } from './traffic.tsx';

/** One marker per region: how many of its machines run, of how many. */
export function regionMarkers(machines: MachineView[]): Marker[] {
  const byRegion = new Map<string, MachineView[]>();
  for (const m of machines) byRegion.set(m.region, [...(byRegion.get(m.region) ?? []), m]);
  return [...byRegion].map(([region, list]) => {
    const started = list.filter((m) => m.state === 'started').length;
    const tones = new Set(list.map((m) => stateTone(m.state)));
    const tone = tones.has('bad') ? 'bad' : tones.has('warn') ? 'warn' : started > 0 ? 'ok' : 'off';
    return {
      region,
      label: `${started}/${list.length}`,
      title: `${region}: ${list.map((m) => `${m.id} ${m.state}`).join(', ')}`,
      tone,
      radius: 6 + Math.min(8, list.length * 2),
    };
  });
}

/** Regions whose proxies lately had no started machine of the app and sent its requests further. */
function ServedElsewhere({ served }: { served: Record<string, string> }) {
  const recent = Object.entries(served).filter(([, at]) => Date.now() - Date.parse(at) < 3_600_000);
  if (recent.length === 0) return null;
  return (
    <p class="aside">
      Served from another region for want of a started machine here:{' '}
      {recent.map(([region, at]) => `${region} ${ago(at)}`).join(', ')}
    </p>
  );
}

export function AppPage({ name }: { name: string }) {
  // Asked again now and then: an app not created yet (a first deploy on its way) shows up by itself.
  const app = useFetch<AppView>(appPath(name), 5000);
  const releases = useFetch<{ releases: ReleaseRecord[] }>(`${appPath(name)}/releases`, 15_000);
  const autoscale = useFetch<AutoscaleView>(`${appPath(name)}/autoscale`, 10_000);
  const live = useLiveApp(name);
  // A deploy changes machines: its release (and its status) is read again with them.
  const reloadReleases = releases.reload;
  useEffect(() => reloadReleases(), [live.machines, reloadReleases]);
  const markers = useMemo(() => regionMarkers(live.machines ?? []), [live.machines]);
  const lines = useMemo(() => trafficLines(live.traffic ?? []), [live.traffic]);
  if (app.error && !app.data) return <Failure error={app.error} />;
  return (
    <main>
      <h1>
        {name}{' '}
        <span class={`live ${live.connected ? 'on' : 'off'}`} title="the live stream from the API">
          {live.connected ? 'live' : 'reconnecting'}
        </span>
      </h1>
      {app.data && (
        <p class="aside">
          Organisation{' '}
          <a href={`/orgs/${app.data.organization.slug}/billing`}>{app.data.organization.slug}</a>
        </p>
      )}
      <WorldMap markers={markers} lines={lines} />
      {live.activity && <ServedElsewhere served={live.activity.served_elsewhere} />}
      {live.machines ? (
        <Machines
          app={name}
          machines={live.machines}
          activity={live.activity}
          releases={releases.data?.releases ?? []}
        />
      ) : live.error ? (
        <Failure error={live.error} />
      ) : (
        <Loading />
      )}
      <Traffic routes={live.traffic} />
      {live.machines && <Timeline machines={live.machines} events={live.events} />}
      {autoscale.data && <Autoscale view={autoscale.data} />}
      {live.machines && <Scale app={name} machines={live.machines} />}
      <Releases app={name} releases={releases.data?.releases} onChange={releases.reload} />
      <LogTail lines={live.logs} />
    </main>
  );
}
