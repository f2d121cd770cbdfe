/**
 * A world map (Natural Earth's countries at 1:110m from world-atlas, projected with d3-geo) with
 * markers at regions and lines between them. The geometry is a file of the build, fetched once and
 * cached by the browser: nothing comes from the network beyond this API.
 */
import { geoNaturalEarth1, geoPath } from 'd3-geo';
import { useEffect, useState } from 'preact/hooks';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';
import countriesUrl from 'world-atlas/countries-110m.json?url';
import { places } from './regions.ts';

const WIDTH = 960;
const HEIGHT = 400;
/** Antarctica has no region: leaving it out gives the inhabited world more room. */
const ANTARCTICA = '010';

export interface Marker {
  region: string;
  /** Text beside the dot (a count), and the tooltip. */
  label: string;
  title: string;
  /** A CSS class: `ok`, `warn`, `off`, `bad`. */
  tone: string;
  radius?: number;
}

export interface Line {
  from: string;
  to: string;
  title: string;
  /** Written at the line's middle (a round-trip time, a rate). */
  label?: string;
  /** A CSS class: `rtt` (the default, a straight line) or `traffic` (an arc from `from` to `to`). */
  kind?: 'rtt' | 'traffic';
}

/** A straight line, or an arc bent to the left of its direction (so a→b and b→a do not overlap); its middle. */
function linePath(
  a: [number, number],
  b: [number, number],
  arc: boolean,
): { d: string; middle: [number, number] } {
  const middle: [number, number] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
  if (!arc) return { d: `M${a[0]},${a[1]}L${b[0]},${b[1]}`, middle };
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const bend = 0.2;
  const control: [number, number] = [middle[0] + dy * bend, middle[1] - dx * bend];
  return {
    d: `M${a[0]},${a[1]}Q${control[0]},${control[1]} ${b[0]},${b[1]}`,
    // The quadratic curve's middle is halfway between the chord's middle and the control point.
    middle: [(middle[0] + control[0]) / 2, (middle[1] + control[1]) / 2],
  };
}

let landPath: Promise<string> | undefined;
// Fitted to the latitudes people live at (56°S to 84°N), the whole width of the world.
const projection = geoNaturalEarth1().fitExtent(
  [
    [4, 4],
    [WIDTH - 4, HEIGHT - 4],
  ],
  {
    type: 'MultiPoint',
    coordinates: [-180, -90, 0, 90, 180].flatMap((longitude) => [
      [longitude, -56],
      [longitude, 84],
    ]),
  },
);

function loadLand(): Promise<string> {
  landPath ??= fetch(countriesUrl)
    .then((response) => response.json() as Promise<Topology>)
    .then((world) => {
      const countries = feature(world, world.objects.countries as GeometryCollection);
      countries.features = countries.features.filter((country) => country.id !== ANTARCTICA);
      return geoPath(projection)(countries) ?? '';
    });
  return landPath;
}

export function WorldMap({ markers, lines = [] }: { markers: Marker[]; lines?: Line[] }) {
  const [land, setLand] = useState('');
  useEffect(() => void loadLand().then(setLand), []);
  const at = (region: string) => {
    const place = places.get(region);
    return place && projection([place.longitude, place.latitude]);
  };
  const unplaced = markers.filter((m) => !at(m.region));
  return (
    <figure class="map">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="world map of regions">
        <path class="land" d={land} />
        {lines.map((line) => {
          const [a, b] = [at(line.from), at(line.to)];
          if (!a || !b) return null;
          const kind = line.kind ?? 'rtt';
          const { d, middle } = linePath(a, b, kind === 'traffic');
          return (
            <g class={kind} key={`${line.from}-${line.to}`} data-from={line.from} data-to={line.to}>
              <title>{line.title}</title>
              <path d={d} />
              {line.label && (
                <text x={middle[0]} y={middle[1] - 4} text-anchor="middle">
                  {line.label}
                </text>
              )}
            </g>
          );
        })}
        {markers.map((marker) => {
          const point = at(marker.region);
          if (!point) return null;
          return (
            <g
              class={`marker ${marker.tone}`}
              transform={`translate(${point[0]},${point[1]})`}
              key={marker.region}
              data-region={marker.region}
            >
              <title>{marker.title}</title>
              <circle r={marker.radius ?? 7} />
              <text x={(marker.radius ?? 7) + 4} y={4}>
                {marker.label}
              </text>
            </g>
          );
        })}
      </svg>
      {unplaced.length > 0 && (
        <figcaption>
          Not on the map (no coordinates in data/cities.tsv):{' '}
          {unplaced.map((m) => (
            <span class={`chip ${m.tone}`} key={m.region} data-region={m.region} title={m.title}>
              {m.region} {m.label}
            </span>
          ))}
        </figcaption>
      )}
    </figure>
  );
}
